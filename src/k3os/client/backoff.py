"""Exponential backoff: the delay before the n-th retry, and per-key failure counts.

Used by informers between reconnects and by the work queue between retries of a key.
Pure arithmetic; jitter takes its random source as an argument so tests are exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["Backoff", "KeyedBackoff"]


@dataclass(frozen=True)
class Backoff:
    """`initial * factor**(n-1)` seconds for the n-th consecutive failure, at most `maximum`.

    `jitter` spreads retries of many clients: up to that fraction is added at random.
    """

    initial: float = 0.2
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if self.initial < 0 or self.maximum < self.initial or self.factor < 1 or self.jitter < 0:
            raise ValueError(
                f"backoff needs 0 <= initial <= maximum, factor >= 1, jitter >= 0; got {self}"
            )

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        if failures <= 0:
            return 0.0
        # Cap the exponent first: factor**failures overflows floats for long outages.
        base = self.initial * self.factor ** min(failures - 1, 64)
        base = min(base, self.maximum)
        return base * (1.0 + self.jitter * rand()) if self.jitter else base


class KeyedBackoff:
    """Failure counts per key: `next_delay` counts one more failure, `forget` resets."""

    def __init__(self, backoff: Backoff) -> None:
        self.backoff = backoff
        self._failures: dict[Hashable, int] = {}

    def next_delay(self, key: Hashable) -> float:
        n = self._failures.get(key, 0) + 1
        self._failures[key] = n
        return self.backoff.delay(n)

    def failures(self, key: Hashable) -> int:
        return self._failures.get(key, 0)

    def forget(self, key: Hashable) -> None:
        self._failures.pop(key, None)
