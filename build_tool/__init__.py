"""Package a Django project's static files into one deploy artifact and stage it on S3."""

__version__ = "0.1.0"
