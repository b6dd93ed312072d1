"""The release model's decisions, pure: the contract, the order, the plan, headers, retention, verdicts."""
