"""Prediction ids: unique, cheap, unguessable, and checkable without a database lookup.

An id is ``<prefix>-<n>-<mac>``: a random per-process prefix, a per-process counter, and
an 80-bit keyed BLAKE2b MAC of the two under the registry's prediction id key (every
gateway on one registry shares it). Ids cannot be guessed from ids seen — a forged
outcome must name a prediction the caller was really answered — and any gateway can
refuse a forged id at once, without waiting for a log writer or querying the database.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os

from gateway.errors import NotReadyError

MAC_BYTES = 10
_MAX_ID_LENGTH = 64  # registry.sql.predictions.MAX_ID_LENGTH


class PredictionIds:
    """Issues and checks prediction ids.

    Args:
        key: the registry's prediction id key; None until it is read (``set_key``).
        prefix: the per-process prefix (random by default).

    >>> ids = PredictionIds(b"k" * 32, prefix="ab12")
    >>> first = ids.next()
    >>> first.startswith("ab12-1-"), len(first), ids.verify(first)
    (True, 27, True)
    >>> ids.verify("ab12-2-" + first.rsplit("-", 1)[1]), ids.verify("ab12-1")
    (False, False)
    """

    __slots__ = ("_counter", "_key", "_prefix")

    def __init__(self, key: bytes | None = None, prefix: str | None = None) -> None:
        self._prefix = prefix or os.urandom(6).hex()
        self._counter = itertools.count(1)
        self._key = key

    def set_key(self, key: bytes) -> None:
        """Use the registry's key (read when the registry is first reached)."""
        self._key = key

    @property
    def ready(self) -> bool:
        """True once ids can be issued and checked."""
        return self._key is not None

    def _mac(self, body: str) -> str:
        return hashlib.blake2b(body.encode(), key=self._key, digest_size=MAC_BYTES).hexdigest()

    def next(self) -> str:
        """A new id, never issued before by any process.

        Raises:
            NotReadyError: the registry's key has not been read yet.
        """
        if self._key is None:
            raise NotReadyError("the gateway has not reached its registry yet; retry shortly")
        body = f"{self._prefix}-{next(self._counter)}"
        return f"{body}-{self._mac(body)}"

    def verify(self, prediction_id: str) -> bool:
        """True when ``prediction_id`` was issued by a gateway sharing this key."""
        if self._key is None or len(prediction_id) > _MAX_ID_LENGTH:
            return False
        body, sep, mac = prediction_id.rpartition("-")
        if not sep or len(mac) != 2 * MAC_BYTES:
            return False
        return hmac.compare_digest(mac, self._mac(body))
