"""Retry policy: exponential backoff with full jitter, declared next to each handler."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass


def _delay_scale() -> float:
    # Tests and the demo shrink every delay; the policy's shape stays the same.
    return float(os.environ.get("SHOP_RETRY_DELAY_SCALE", "1"))


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, failed_attempt: int) -> float:
        """Seconds to wait after ``failed_attempt`` (1-based) before trying again."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (failed_attempt - 1))
        return random.uniform(0, ceiling) * _delay_scale()


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(max_attempts=1)
