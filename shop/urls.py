from django.contrib import admin
from django.urls import include, path

from shop.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("walkthrough/", include("shop.web.urls")),
]
