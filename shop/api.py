"""The JSON API root. Each app contributes a router; OpenAPI is served at /api/docs."""

from ninja import NinjaAPI

api = NinjaAPI(title="Shop order flows", version="1", urls_namespace="api")
