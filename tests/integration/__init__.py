"""Tests against a real S3 server (SeaweedFS on loopback)."""
