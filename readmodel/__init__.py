"""The read side of CQRS: a denormalized order dashboard, built from the order streams' events.

Which reads are consistent how:

- **Strongly consistent: the write model.** ``orders.Order`` (and ``GET /api/orders/{id}``) is
  the row the order service updates inside the transaction that changes it. Once the request
  returns, every reader sees the change.
- **Eventually consistent: the read model.** ``OrderSummary`` (``GET /api/dashboard``, the admin's
  order summaries) is written by the projector after the events reach its queue,
  ``projector.events``. It lags the write model by the time a message takes to arrive, or by as
  long as the projector is down. ``readmodel.selectors.lag`` says by how much, and the dashboard
  returns that figure with every answer so a reader can tell how stale it is.

Only event-mode orders appear here: command mode keeps no stream, so there is nothing to project
(that is the lesson's point). ``manage.py rebuild_projections`` drops the read model and rebuilds
it from the event store, the source of truth.
"""
