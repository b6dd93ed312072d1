"""Static files on django-storages' S3ManifestStaticStorage, at an endpoint nothing listens on."""

from pathlib import Path

SECRET_KEY = "touchy"
INSTALLED_APPS = ["django.contrib.staticfiles", "touchy_app"]
STATIC_URL = "/static/"
STATICFILES_DIRS = [Path(__file__).parent / "assets"]
CLOSED = "http://127.0.0.1:9"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "storages.backends.s3.S3ManifestStaticStorage",
        "OPTIONS": {"bucket_name": "live", "endpoint_url": CLOSED, "access_key": "x", "secret_key": "x"},
    },
}
