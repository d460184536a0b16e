"""Bounded renderings of caller-supplied text and lists for error messages.

A status message travels in gRPC trailing metadata; C-core clients refuse metadata over
8 KiB with a RESOURCE_EXHAUSTED of their own. So a message never echoes a caller's
string or list whole: names are cut to ``MAX_TEXT`` characters and lists to ``MAX_ITEMS``
entries, saying how much was left out.
"""

from __future__ import annotations

from collections.abc import Iterable

MAX_TEXT = 80
MAX_ITEMS = 8


def brief(value: object, limit: int = MAX_TEXT) -> str:
    """``repr`` of ``value`` cut to about ``limit`` characters.

    >>> brief("alpha")
    "'alpha'"
    >>> brief("x" * 100, limit=10)
    "'xxxxxxxxxx'… (90 more characters)"
    """
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:limit]!r}… ({len(value) - limit} more characters)"
    text = repr(value)
    if len(text) > limit + 2:
        return f"{text[:limit]}… ({len(text) - limit} more characters)"
    return text


def brief_list(values: Iterable[object], limit: int = MAX_ITEMS) -> str:
    """A list's first ``limit`` entries (each cut by :func:`brief`) and how many more.

    >>> brief_list(["a", "b"])
    "['a', 'b']"
    >>> brief_list(range(20), limit=3)
    '[0, 1, 2, … and 17 more]'
    """
    items = list(values)
    shown = ", ".join(brief(v) for v in items[:limit])
    if len(items) > limit:
        return f"[{shown}, … and {len(items) - limit} more]"
    return f"[{shown}]"


def clip_message(message: str, limit: int) -> str:
    """``message`` cut to at most ``limit`` UTF-8 bytes, saying that it was cut.

    >>> clip_message("é" * 10, 12)
    'é… (cut)'
    >>> clip_message("short", 100)
    'short'
    """
    data = message.encode()
    if len(data) <= limit:
        return message
    tail = "… (cut)"
    room = max(limit - len(tail.encode()), 0)
    return data[:room].decode(errors="ignore") + tail
