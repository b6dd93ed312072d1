"""The deployer's own keys in the live bucket: the live state and cutover, history records, the journal."""
