"""The services, for the walkthrough page, when the broker is the embedded ``memory://``.

``memory://`` queues live inside one process, so the web process runs every service itself
(``messaging.operations.embedded_services``): it starts them when it loads (``shop/wsgi.py``), and the page
makes sure they run before it places an order, which covers a server that loaded the app some
other way (pytest-django's live server). They must be consuming before the order is placed: in
event mode a service's queue is bound to ``events`` by its worker, and an event published
before any binding exists reaches nobody.

On a real broker (``make run``) the Procfile's workers consume and nothing is started here.
Set ``SHOP_EMBEDDED_SERVICES = False`` to never start them (tests that run their own).
"""

from __future__ import annotations

from messaging.operations.embedded_services import ensure_started, is_running, stop, wanted

__all__ = ["ensure_started", "is_running", "stop", "wanted"]
