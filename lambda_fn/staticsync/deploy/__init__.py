"""One deploy's I/O: open, judge and plan against the live bucket, then upload, claim and cut over."""
