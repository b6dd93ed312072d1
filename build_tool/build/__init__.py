"""The build: collect with a local manifest storage, compress, pack the deterministic artifact, name it."""
