"""Reads the static storage again in ready()."""

from django.apps import AppConfig


class TouchyConfig(AppConfig):
    name = "touchy_app"

    def ready(self) -> None:
        from django.contrib.staticfiles.storage import staticfiles_storage

        from touchy_app import SEEN

        SEEN.append(type(staticfiles_storage._wrapped))
        staticfiles_storage.exists("touchy/css/app.css")
