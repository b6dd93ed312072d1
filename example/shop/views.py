"""The shop's single page."""

from __future__ import annotations

from django.views.generic import TemplateView

PRODUCTS = [
    {"name": "Pony mug", "price_cents": 1250, "featured": True},
    {"name": "Tea towel", "price_cents": 900, "featured": False},
    {"name": "Enamel pin", "price_cents": 450, "featured": False},
]


class IndexView(TemplateView):
    template_name = "shop/index.html"
    extra_context = {"products": PRODUCTS}
