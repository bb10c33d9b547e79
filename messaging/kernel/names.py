"""The naming rule the lesson teaches: commands are imperative, events are past tense.

A name is ``<area>.<verb or fact>``: ``inventory.reserve`` tells inventory to reserve;
``order.placed`` says an order was placed. The rule is checked when a contract is registered,
so a badly named message cannot exist, let alone be sent.
"""

from __future__ import annotations

import enum
import re

from messaging.kernel.errors import NamingError


class Kind(enum.StrEnum):
    COMMAND = "command"
    EVENT = "event"


_NAME = re.compile(r"^[a-z][a-z0-9]*\.[a-z][a-z0-9_]*$")

#: Irregular past forms used by events in this domain (regular ones end in -ed).
IRREGULAR_PAST = frozenset({"sent", "paid", "held", "sold", "built", "made", "done", "lost", "won"})
#: Verbs that end in -ed but are not past tense.
ED_VERBS = frozenset({"need", "feed", "seed", "embed", "speed", "proceed", "exceed", "succeed"})


def is_past_tense(word: str) -> bool:
    return word in IRREGULAR_PAST or (word.endswith("ed") and word not in ED_VERBS)


def check_name(name: str, kind: Kind) -> None:
    """Raise NamingError unless ``name`` follows the rule for ``kind``."""
    if not _NAME.match(name):
        raise NamingError(f"{name!r}: a message name is '<area>.<action>', lower case, e.g. 'order.placed'")
    action = name.split(".", 1)[1].split("_")
    if kind is Kind.EVENT and not is_past_tense(action[-1]):
        raise NamingError(
            f"{name!r} is registered as an event, but events state facts in the past tense "
            f"('order.placed', 'inventory.reservation_failed'); {action[-1]!r} is not past tense"
        )
    if kind is Kind.COMMAND and is_past_tense(action[0]):
        raise NamingError(
            f"{name!r} is registered as a command, but commands are imperative "
            f"('inventory.reserve', 'email.send'); {action[0]!r} reads as past tense"
        )
