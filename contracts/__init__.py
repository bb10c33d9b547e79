"""The published language: the schema of every message the services exchange.

Consumers depend on the contracts of the messages they handle, never on the app that sends
them. This is how ``inventory`` reads ``order.placed`` without importing ``orders``.
Importing this package registers every contract.
"""

from contracts import analytics, fraud, inventory, notifications, orders, payments, replies

__all__ = ["analytics", "fraud", "inventory", "notifications", "orders", "payments", "replies"]
