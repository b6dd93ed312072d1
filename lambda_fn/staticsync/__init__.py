"""Sync a packaged Django static release from an artifact zip to a live S3 bucket."""
