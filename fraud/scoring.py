"""A deterministic, explainable risk score: each rule adds a weight and says why.

Not a real fraud model: a transparent stand-in so that tests and learners can predict which
orders get flagged. The lesson's threshold applies: above 0.8, the order is flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

FLAG_THRESHOLD = 0.8

HIGH_VALUE = Decimal("1000")
BULK_QUANTITY = 20
DISPOSABLE_DOMAINS = frozenset({"mailinator.com", "10minutemail.com", "guerrillamail.com", "trashmail.com"})

WEIGHTS = {"high_value": 0.5, "disposable_email": 0.35, "bulk_quantity": 0.2}


@dataclass(frozen=True)
class Score:
    value: float
    reasons: tuple[str, ...]

    @property
    def flagged(self) -> bool:
        return self.value > FLAG_THRESHOLD


def score(*, total: Decimal, quantities: Sequence[int], email: str) -> Score:
    reasons: list[str] = []
    value = 0.0
    if total >= HIGH_VALUE:
        value += WEIGHTS["high_value"]
        reasons.append(f"high order value ({total} ≥ {HIGH_VALUE}): +{WEIGHTS['high_value']}")
    domain = email.rsplit("@", 1)[-1].lower()
    if domain in DISPOSABLE_DOMAINS:
        value += WEIGHTS["disposable_email"]
        reasons.append(f"disposable email domain ({domain}): +{WEIGHTS['disposable_email']}")
    if any(q >= BULK_QUANTITY for q in quantities):
        value += WEIGHTS["bulk_quantity"]
        reasons.append(f"bulk quantity (≥ {BULK_QUANTITY} of one item): +{WEIGHTS['bulk_quantity']}")
    return Score(round(min(value, 1.0), 4), tuple(reasons))
