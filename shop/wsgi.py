"""The WSGI application (gunicorn under ``make run``; ``manage.py runserver`` in development).

With the embedded ``memory://`` broker this process is the whole shop: it starts every service's
consumers and the outbox relay in background threads as it loads (``messaging.operations.embedded_services``),
so orders placed through the API complete and deadlines fire with no other process.
"""

import atexit
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
application = get_wsgi_application()

from messaging.operations import embedded_services  # noqa: E402  (needs the settings configured above)

if embedded_services.ensure_started():
    atexit.register(embedded_services.stop)
