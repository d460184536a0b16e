"""Concurrency budgets per kind of call, so slow or flooding callers of one door cannot
take the slots Predict needs.

grpc.aio's ``maximum_concurrent_rpcs`` counts every call alike: a flood of outcome
calls waiting for their predictions, admin streams or health watches would leave none
for Predict. The server's total is therefore the Predict budget plus each other kind's
budget, and each other kind is held to its own budget here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from gateway.errors import QueueFullError


class Slots:
    """At most ``limit`` calls of one kind at a time; more are RESOURCE_EXHAUSTED.

    Only the event loop thread takes and gives back slots, so a plain counter is enough.

    >>> slots = Slots(1, "outcome")
    >>> with slots.take():
    ...     slots.in_use
    1
    >>> with slots.take(), slots.take():  # doctest: +ELLIPSIS
    ...     pass
    Traceback (most recent call last):
    ...
    gateway.errors.QueueFullError: too many concurrent outcome calls (limit 1); ...
    """

    __slots__ = ("in_use", "limit", "what")

    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError(f"{what} limit must be at least 1, got {limit}")
        self.limit = limit
        self.what = what
        self.in_use = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold one slot for the duration of the block.

        Raises:
            QueueFullError: every slot is taken.
        """
        if self.in_use >= self.limit:
            raise QueueFullError(
                f"too many concurrent {self.what} calls (limit {self.limit}); retry after a "
                "short backoff"
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
