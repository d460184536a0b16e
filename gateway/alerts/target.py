"""A webhook's target: its URL checked, credentials split off and masked, request headers."""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from gateway.brief import brief

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110)


def mask_url(url: str) -> str:
    """``url`` safe to log: credentials replaced by ``***``, query values by ``***``.

    >>> mask_url("https://bot:s3cret@hooks.example.com:8443/alerts?token=abc&team=ml")
    'https://***@hooks.example.com:8443/alerts?token=***&team=***'
    >>> mask_url("http://127.0.0.1:9000/hook")
    'http://127.0.0.1:9000/hook'
    """
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"***@{host}" if "@" in parts.netloc else host
    query = "&".join(f"{k}=***" for k, _ in parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds; None when absent or not a number (an HTTP date).

    >>> retry_after_seconds("3"), retry_after_seconds(" 0.5 "), retry_after_seconds("-1")
    (3.0, 0.5, None)
    >>> retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") is None
    True
    """
    try:
        seconds = float((value or "").strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def split_credentials(url: str, shown: str) -> tuple[str, str | None]:
    """Check a webhook URL; split off its credentials as a Basic authorization.

    Args:
        url: the configured URL.
        shown: its masked form (:func:`mask_url`), the only one an error may name.

    Returns:
        The URL to request (no credentials, no fragment) and the ``Authorization``
        value for ``user:password@``, or None.

    Raises:
        ValueError: not an absolute ``http``/``https`` URL with a host and a valid port,
            or it holds whitespace, control or non-ASCII characters.

    >>> split_credentials("HTTPS://a%40b:p%3Aw@h.example/x#f", "")
    ('https://h.example/x', 'Basic YUBiOnA6dw==')
    """
    if not url.isascii() or any(c <= " " or c == "\x7f" for c in url):
        raise ValueError(
            f"webhook URL {shown!r} contains whitespace, control or non-ASCII characters "
            "(percent-encode them)"
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"webhook URL {shown!r} must start with http:// or https://")
    try:
        parts.port  # noqa: B018  (parsing the port is the check)
    except ValueError:
        raise ValueError(f"webhook URL {shown!r} has an invalid port") from None
    if not parts.hostname:
        raise ValueError(f"webhook URL {shown!r} has no host")
    netloc = parts.netloc.rpartition("@")[2]
    target = urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
    if parts.username is None:
        return target, None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return target, "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def request_headers(extra: Mapping[str, str], auth: str | None) -> dict[str, str]:
    """The headers of every POST: ``extra``, the Basic ``auth`` and the JSON content type.

    Raises:
        ValueError: a header name is not an HTTP token, a value holds CR, LF or NUL, or
            ``auth`` is given along with an ``Authorization`` header.

    >>> request_headers({"X-Team": "ml"}, None)
    {'User-Agent': 'galgate-alerts', 'X-Team': 'ml', 'Content-Type': 'application/json'}
    """
    headers = {"User-Agent": "galgate-alerts"}
    for name, value in extra.items():
        if not _TOKEN.fullmatch(name) or any(c in str(value) for c in "\r\n\0"):
            raise ValueError(f"header {brief(name)} is not a valid HTTP header")
        if name.lower() in ("content-type", "content-length", "host"):
            continue  # set by the sink or by http.client
        if name.lower() == "authorization" and auth is not None:
            raise ValueError("credentials both in the URL and in an Authorization header")
        headers[name] = str(value)
    if auth is not None:
        headers["Authorization"] = auth
    headers["Content-Type"] = "application/json"
    return headers
