"""A loopback HTTP server that answers each path from a script and records every request.

`script(path, [503, 503, 200], body)` makes the path answer 503 twice, then 200 with the
body from then on: a flaky image host for URL sources, or a flaky webhook receiver.
"""

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float


@dataclass
class _Script:
    statuses: list[int]
    body: bytes
    content_type: str
    delay_seconds: float = 0.0
    served: int = 0

    def next_status(self) -> int:
        status = self.statuses[min(self.served, len(self.statuses) - 1)]
        self.served += 1
        return status


@dataclass
class ScriptedServer:
    name: str
    _scripts: dict[str, _Script] = field(default_factory=dict)
    _received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"faults-{self.name}", daemon=True
        )

    @property
    def address(self) -> str:
        """host:port, as the allowlist settings take it."""
        port: int = self._server.server_address[1]
        return f"127.0.0.1:{port}"

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def script(
        self,
        path: str,
        statuses: list[int],
        body: bytes = b"",
        content_type: str = "application/octet-stream",
        delay_seconds: float = 0.0,
    ) -> str:
        """Answer `path` with these statuses in turn (the last one repeats), each after
        `delay_seconds`; the path's URL."""
        with self._lock:
            self._scripts[path] = _Script(list(statuses), body, content_type, delay_seconds)
        return self.url(path)

    def received(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.path == path]

    def start(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, _Script | None]:
        with self._lock:
            script = self._scripts.get(path)
            status = script.next_status() if script else 404
            self._received.append(Received(method, path, headers, body, status, time.time()))
            return status, script

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, *, with_body: bool) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, script = server._answer(
                    self.command, self.path, dict(self.headers.items()), body
                )
                payload = script.body if script and status == 200 else b""
                if script is not None and script.delay_seconds:
                    time.sleep(script.delay_seconds)
                self.send_response(status)
                if script is not None and status == 200:
                    self.send_header("Content-Type", script.content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if with_body:
                    self.wfile.write(payload)

            def do_GET(self) -> None:
                self._serve(with_body=True)

            def do_POST(self) -> None:
                self._serve(with_body=True)

            def do_HEAD(self) -> None:
                self._serve(with_body=False)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests read `received()` instead

        return Handler
