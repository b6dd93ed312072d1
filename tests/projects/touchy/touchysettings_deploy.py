"""touchysettings with the static_deploy app and its STATIC_DEPLOY settings."""

from touchysettings import *  # noqa: F403

# First, so that `manage.py deploystatic` puts the local storage in place before touchy_app reads it.
INSTALLED_APPS = ["static_deploy", *INSTALLED_APPS]  # noqa: F405
STATIC_DEPLOY = {"bucket": "artifacts", "prefix": "staging/", "release": "touchy1"}
