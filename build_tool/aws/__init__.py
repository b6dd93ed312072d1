"""The build tool's S3 side: the client, staging the artifact, the live release, waiting for reports."""
