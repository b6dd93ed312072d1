"""Settings without django.contrib.staticfiles: nothing to collect with."""

SECRET_KEY = "nostatic"
INSTALLED_APPS = ["django.contrib.contenttypes"]
STATIC_URL = "/static/"
