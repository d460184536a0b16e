"""Content-addressed artifact storage: sha256 put, get and verify inside a transaction."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.db import insert_ignoring
from registry.errors import CorruptArtifactError, InvalidArgumentError
from registry.schema import ArtifactRow

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(data: bytes) -> str:
    """Return the lowercase hex sha256 of ``data``.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits, else raise InvalidArgumentError.

    >>> check_sha256("ab" * 32) == "ab" * 32
    True
    """
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise InvalidArgumentError(
            f"invalid sha256 {sha256!r}: expected 64 lowercase hexadecimal digits"
        )
    return sha256


def verify(sha256: str, data: bytes) -> bytes:
    """Return ``data`` if it hashes to ``sha256``.

    Raises:
        CorruptArtifactError: the bytes hash to something else.

    >>> verify(sha256_hex(b"onnx"), b"onnx")
    b'onnx'
    >>> verify(sha256_hex(b"onnx"), b"onnX")
    Traceback (most recent call last):
    ...
    registry.errors.CorruptArtifactError: artifact 87e93f89f2be… is corrupt: its bytes hash \
to d834ea403980…, expected 87e93f89f2be…
    """
    actual = sha256_hex(data)
    if actual != sha256:
        raise CorruptArtifactError(sha256, actual)
    return data


async def put_artifact(session: AsyncSession, data: bytes, sha256: str) -> None:
    """Store ``data`` under ``sha256`` unless that hash is already stored (dedup by content).

    Uses ``INSERT ... ON CONFLICT DO NOTHING`` so two writers storing the same bytes at
    once do not collide.

    Args:
        session: a session inside a write transaction.
        data: the artifact bytes.
        sha256: their hash, from :func:`sha256_hex`.
    """
    stmt = insert_ignoring(session, ArtifactRow, "sha256")
    await session.execute(stmt.values(sha256=sha256, data=data, size=len(data)))


async def get_artifact(session: AsyncSession, sha256: str) -> bytes | None:
    """Load and verify the bytes stored under ``sha256``.

    Args:
        session: a session inside a transaction.
        sha256: the artifact hash.

    Returns:
        The bytes, or None when nothing is stored under that hash.

    Raises:
        CorruptArtifactError: the stored bytes no longer hash to ``sha256``.
    """
    data = await session.scalar(select(ArtifactRow.data).where(ArtifactRow.sha256 == sha256))
    if data is None:
        return None
    return verify(sha256, bytes(data))
