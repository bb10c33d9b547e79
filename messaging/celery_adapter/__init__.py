"""Celery and kombu behind the kernel's seams: the transport that publishes, the worker that
consumes (tasks for commands, a consumer bootstep for events), the broker settings and topology,
the Redis and in-memory transports, and the embedded worker of ``make run``."""
