"""As touchysettings, named the Django 4.2 way: STATICFILES_STORAGE and AWS_* settings, no STORAGES."""

from pathlib import Path

SECRET_KEY = "touchy"
INSTALLED_APPS = ["django.contrib.staticfiles", "touchy_app"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
STATICFILES_STORAGE = "storages.backends.s3.S3ManifestStaticStorage"
AWS_STORAGE_BUCKET_NAME = "live"
AWS_S3_ENDPOINT_URL = "http://127.0.0.1:9"
AWS_S3_ACCESS_KEY_ID = AWS_S3_SECRET_ACCESS_KEY = "x"
