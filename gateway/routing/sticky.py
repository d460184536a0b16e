"""Sticky assignment: a stable hash of routing key and experiment id picks the arm."""

from __future__ import annotations

from hashlib import blake2b

_MASK64 = (1 << 64) - 1
_TWO_POW_MINUS_53 = 2.0**-53


def key_hash(key: str, experiment_id: str) -> int:
    """A 64-bit hash of (experiment id, key), stable across processes, restarts and hosts.

    blake2b, not Python's ``hash()`` (salted per process). The experiment id is
    length-prefixed so ("ab", "c") and ("a", "bc") cannot collide; a different experiment
    id reshuffles which keys land on which arm.

    >>> key_hash("client-7", "exp-1") == key_hash("client-7", "exp-1")
    True
    >>> key_hash("client-7", "exp-1") != key_hash("client-7", "exp-2")
    True
    """
    exp = experiment_id.encode()
    digest = blake2b(len(exp).to_bytes(4, "big") + exp + key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def unit_interval(h: int) -> float:
    """Map a 64-bit hash uniformly onto [0, 1): its top 53 bits, so 1.0 is never reached.

    >>> unit_interval(0), unit_interval((1 << 64) - 1) < 1.0
    (0.0, True)
    """
    return ((h & _MASK64) >> 11) * _TWO_POW_MINUS_53


def sticky_arm(key: str, experiment_id: str, split: float) -> int:
    """The arm a routing key always gets in an experiment: 1 (treatment) with share ``split``.

    >>> sticky_arm("client-7", "exp-1", 0.0), sticky_arm("client-7", "exp-1", 1.0)
    (0, 1)
    """
    return 1 if unit_interval(key_hash(key, experiment_id)) < split else 0
