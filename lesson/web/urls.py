"""Mounted at ``/walkthrough/`` by ``shop.urls``."""

from __future__ import annotations

from django.urls import path

from lesson.web import views

app_name = "walkthrough"

urlpatterns = [
    path("", views.page, name="page"),
    path("orders", views.place, name="place"),
    path("orders/<uuid:order_id>/timeline", views.order_timeline, name="timeline"),
    path("tables", views.tables, name="tables"),
    path("source", views.source, name="source"),
    path("assets/<str:name>", views.asset, name="asset"),
]
