"""A real HTTP webhook receiver on loopback, in a thread, answering from a script.

``Receiver(answer)`` serves until closed; ``answer(n)`` says what the n-th request (from 0)
gets: a status code, optionally a body, a redirect location or a delay. Every request is
recorded with its headers and body, so tests can verify signatures and count deliveries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"ok"
    location: str | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    status: int
    """What the receiver answered (0 while it has not decided)."""


@dataclass
class Receiver:
    answer: Callable[[int], Answer] = lambda n: Answer()
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                got = Received(self.path, dict(self.headers.items()), body, time.time(), 0)
                with receiver._lock:
                    n = len(receiver.received)
                    receiver.received.append(got)
                answer = receiver.answer(n)  # may block: outside the lock
                with receiver._lock:
                    receiver.received[n] = dataclasses.replace(got, status=answer.status)
                time.sleep(answer.delay_s)
                self.send_response(answer.status)
                if answer.location is not None:
                    self.send_header("Location", answer.location)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                # The sender may cut us off: that is what its cap is for.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def ids(self, *, accepted_only: bool = False) -> list[str]:
        """Event ids received, in order (only those answered 2xx when ``accepted_only``)."""
        with self._lock:
            return [
                r.headers["Webhook-Id"]
                for r in self.received
                if not accepted_only or 200 <= r.status < 300
            ]
