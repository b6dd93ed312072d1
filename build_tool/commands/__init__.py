"""One module per `build_tool` command: package, plan, status, rollback, prune."""
