"""Django app: `manage.py deploystatic` (what `build_tool package` does) and a storage pinned to a release.

INSTALLED_APPS += ["static_deploy"]; configure it with settings.STATIC_DEPLOY (static_deploy.config).
"""
