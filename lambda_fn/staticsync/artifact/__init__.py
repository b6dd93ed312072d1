"""A staged artifact read from S3: ranged reads, the zip's member table, checked members, streaming."""
