"""The messaging kernel: envelopes, contracts, names, the two buses, subscriptions and command
handlers, the inbox (``consuming.apply_once``) and the outbound seam (the outbox).

It imports neither Celery nor kombu (tests/unit/test_layers.py): a broker reaches it only through
the ``Transport`` protocol (outbound.py), which messaging/celery_adapter implements. Services
import this package and nothing else of messaging/.
"""
