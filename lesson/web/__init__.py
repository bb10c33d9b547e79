"""The web walkthrough at ``/walkthrough/``: place an order in either mode and watch what it caused.

One page (``views.page``) with a mode switch, an order form, a live causation tree per order
(polled from ``views.timeline``), and the lesson's two comparison tables with the source lines
behind each claim (``views.source``). It reads what the rest of the project already records (the
message log, the evidence in ``lesson.evidence``) and writes only through ``orders.services``.

Templates and static files live in ``lesson/templates/web`` and ``lesson/static/web``: ``shop`` is an
installed app, so Django finds them without a settings change.
"""
