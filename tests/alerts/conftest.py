"""Fixtures for alert sinks: a real HTTP receiver on 127.0.0.1, dead and silent ports."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from registry.entities import Alert, AlertSeverity

CREATED = datetime(2026, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
LAST_SEEN = datetime(2026, 3, 1, 12, 5, 0, tzinfo=UTC)


def make_alert(
    alert_id: int = 1,
    *,
    severity: AlertSeverity = AlertSeverity.WARNING,
    details: dict[str, Any] | None = None,
) -> Alert:
    """A drift alert on btc 1.2.0, raised three times."""
    return Alert(
        id=alert_id,
        key=f"drift:data:btc:1.2.{alert_id}",
        kind="drift",
        severity=severity,
        model="btc",
        version=f"1.2.{alert_id}",
        message=f"data drift on btc 1.2.{alert_id}: 2 of 5 features moved",
        details={"psi": 0.31, "features": ["spread", "volume"]} if details is None else details,
        created_at=CREATED,
        last_seen_at=LAST_SEEN,
        count=3,
    )


@dataclass(frozen=True)
class Reply:
    """One scripted answer: status, headers, body."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class Received:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


class Receiver:
    """A real HTTP server: answers each request with the next scripted reply, then 204."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    reply = receiver.replies.pop(0) if receiver.replies else Reply(204)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.close()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A port bound but not listening: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


class Sleeps(list[float]):
    """Stands in for asyncio.sleep between attempts: records each delay, yields once."""

    async def __call__(self, seconds: float) -> None:
        self.append(seconds)
        await asyncio.sleep(0)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sink honours *_PROXY variables; the receiver is local."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
