"""Caps on what an untrusted model or signature may declare, and bounded previews for messages.

A signature is stored with its version and sent back in every model listing (its
features and class labels appear there more than once), so a 130-byte ONNX file that
declares 200,000 features must not get that far. The caps are far above what a trading
model needs and far below what breaks a 4 MiB gRPC reply.
"""

from __future__ import annotations

from collections.abc import Sequence

#: input width of a model. Order-book models run to a few hundred features (50 levels x
#: 4 fields = 200); 4096 leaves room for lags of those, and a float32 row of 4096
#: features is 16 KiB, so a 4 MiB request still carries 256 rows.
MAX_FEATURES = 4096
#: characters of a feature name, class label, input or output name.
MAX_NAME_CHARS = 256
#: classes of a classifier: up/flat/down needs 3; 1024 covers bucketed targets.
MAX_CLASSES = 1024
#: graph outputs: the contract has one (regression) or two (classification).
MAX_OUTPUTS = 8
#: dimensions of one output's shape (the contract uses 1 or 2).
MAX_RANK = 8
#: characters of an output's dtype name ("float32", "onnx:16", ...).
MAX_DTYPE_CHARS = 32
#: characters of a whole signature document (compact JSON). 4096 features with names
#: of up to ~28 characters fit; a listing repeats a version's features about three
#: times, so one version takes at most ~400 KB of a 4 MiB reply.
MAX_SIGNATURE_CHARS = 128 * 1024
#: largest magnitude of an integer class label or dimension (ONNX dims are int64).
MAX_INT = 2**63 - 1

#: items and characters per item that an error message shows of a long list.
PREVIEW_ITEMS = 5
PREVIEW_CHARS = 40


def clip(value: object, limit: int = PREVIEW_CHARS) -> str:
    """``repr(value)`` cut to ``limit`` characters, saying how many were left out.

    >>> clip("abc")
    "'abc'"
    >>> clip("x" * 100, 10)
    "'xxxxxxxxx... (92 more characters)"
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


def preview(items: Sequence[object], limit: int = PREVIEW_ITEMS) -> str:
    """The first ``limit`` of ``items``, each clipped, and how many were left out.

    >>> preview(["a", "b"])
    "['a', 'b']"
    >>> preview(range(10), 3)
    '[0, 1, 2, ... and 7 more]'
    """
    shown = ", ".join(clip(item) for item in items[:limit])
    rest = len(items) - limit
    return f"[{shown}, ... and {rest} more]" if rest > 0 else f"[{shown}]"


def too_many(what: str, count: int, cap: int) -> str | None:
    """A message when ``count`` exceeds ``cap``, else None.

    >>> too_many("features", 200_000, 4096)
    'declares 200000 features; at most 4096 are allowed'
    """
    return f"declares {count} {what}; at most {cap} are allowed" if count > cap else None


def too_long(what: str, text: str, cap: int = MAX_NAME_CHARS) -> str | None:
    """A message when ``text`` is longer than ``cap`` characters, else None.

    >>> too_long("feature name", "ab", 1)
    "feature name 'ab' is 2 characters long; at most 1 are allowed"
    """
    if len(text) <= cap:
        return None
    return f"{what} {clip(text)} is {len(text)} characters long; at most {cap} are allowed"
