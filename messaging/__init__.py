"""Messaging in three parts, one package each, and the composition root that wires them:

- ``kernel``: envelopes, contracts, buses, subscriptions, inbox, outbox. No Celery, no kombu.
- ``celery_adapter``: Celery and kombu behind the kernel's seams.
- ``operations``: relay, redelivery, dead letters, fault injection.
- ``bootstrap``: the composition root; ``shop/celery.py`` installs the Celery app through it.

Service apps talk to each other only through the kernel; none of them imports another service
app (``tests/unit/test_coupling.py`` checks it).
"""
