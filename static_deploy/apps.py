"""The app's configuration; while `manage.py deploystatic` starts, the local storage is put in place."""

from __future__ import annotations

import sys

from django.apps import AppConfig

COMMAND = "deploystatic"


def starting_deploystatic(argv: list[str]) -> bool:
    """manage.py / django-admin running deploystatic (its name is the first argument)."""
    return argv[1:2] == [COMMAND]


if starting_deploystatic(sys.argv):
    # Django imports the apps in INSTALLED_APPS order: listed first, this runs before any other app
    # can build the project's static storage (an S3 one would load its manifest from S3). The local
    # storage is what build_tool uses; the collect then configures it fully.
    from build_tool.build.collect import force_local_storage

    force_local_storage()


class StaticDeployConfig(AppConfig):
    name = "static_deploy"
    verbose_name = "Static deploy"
