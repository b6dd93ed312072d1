"""A deploy too large for one invocation, on Step Functions: hand-off, plan, shards, finish."""
