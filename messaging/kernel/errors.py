"""Errors the messaging core raises. Each says what went wrong and what to do instead."""


class MessagingError(Exception):
    """Base class for every error raised by the messaging core."""


class NamingError(MessagingError):
    """A message name breaks the naming rule (imperative commands, past-tense events)."""


class MessageKindError(MessagingError):
    """A command was published as an event, or an event was sent as a command."""


class UnknownMessageType(MessagingError):
    """No contract is registered under this name."""


class UnsupportedVersion(MessagingError):
    """The contract exists, but not in the version the message claims."""


class InvalidMessage(MessagingError):
    """The message is not a valid envelope, or its data breaks the contract's schema."""


class CommandRejected(MessagingError):
    """A command handler refuses the command for a business reason: retrying will not help.

    The sender learns of it through its ``on_failure`` reply (command mode's failure path).
    """
