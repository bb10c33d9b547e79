"""Append to and read from the event store."""
