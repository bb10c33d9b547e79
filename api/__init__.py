"""The HTTP API as one site: every service's router under ``/api/``, the cross-service order
detail, and the error handlers that give every failure the API's JSON shape."""
