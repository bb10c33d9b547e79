"""Running the messaging in production and under test: the outbox relay, redelivery of overdue
messages, dead letters (inspect, retry, mirror), and the fault injection of the fault tier."""
