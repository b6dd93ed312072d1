"""URL routes for the shop."""

from __future__ import annotations

from django.urls import path

from .views import IndexView

app_name = "shop"
urlpatterns = [
    path("", IndexView.as_view(), name="index"),
]
