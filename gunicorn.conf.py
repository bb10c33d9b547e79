"""gunicorn's settings: it reads ``./gunicorn.conf.py`` by default (Procfile: ``web``).

Why: gunicorn logs its own lines (booting, a worker timed out or was killed) in its master
process, before and apart from Django. With this they share ``DJANGO_LOG_FORMAT`` and the one
stderr handler with everything else (core/logs.py), so ``json`` means every line is JSON.
"""

from __future__ import annotations

import os
from typing import Any

from core.logs import log_format_from_env, logging_config

_config = logging_config(log_format_from_env(os.environ.get("DJANGO_LOG_FORMAT")))
# Only gunicorn's error log: its access log (gunicorn.access) is off by default and stays so;
# it propagates to the root logger, whose WARNING level drops its INFO lines.
_config["loggers"]["gunicorn.error"] = {"handlers": ["console"], "level": "INFO", "propagate": False}
logconfig_dict: dict[str, Any] = _config

# The request line (method, path and query string): gunicorn refuses a longer one with its own
# 414 page, in HTML, before Django (and the API's JSON errors) ever see it; the default is 4,094
# bytes. 8,190 is the most gunicorn allows short of no limit at all, which would let one request
# line take any amount of memory. The OpenAPI document states this 414 (core/openapi.py), and how
# many query parameters a request may hold is Django's (1,000: past it the API answers a JSON 400).
limit_request_line = 8190
