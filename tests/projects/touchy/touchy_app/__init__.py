"""Reads the static storage at import, as wagtail/admin/staticfiles.py does."""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage, staticfiles_storage

SEEN = [
    type(staticfiles_storage._wrapped)
    if isinstance(staticfiles_storage, ManifestStaticFilesStorage)
    else None
]
