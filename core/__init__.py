"""The ground floor every service shares: the tables of the message log, inbox, outbox, dead
letters and event store (with their admin), the event store's API, the HTTP API's conventions
(errors, OpenAPI, the body limits) and the logs.

Its app label stays ``shop``, the app it was split from, so its tables (``shop_messagelog``, ...)
and its migration history keep their names.
"""
