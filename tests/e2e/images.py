"""Images made on the spot for the end-to-end tests, and a loopback HTTP server for them.

Nothing is downloaded: every picture is drawn with libvips, every URL source is served from
127.0.0.1 by `ImageServer`.
"""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pyvips

JPEG_TYPE = "image/jpeg"
PNG_TYPE = "image/png"


def picture(width: int, height: int, seed: int = 1, noise: float = 6.0) -> Any:
    """Gradients, a few shapes and light noise: compresses like a photo, small as a file."""
    xyz = pyvips.Image.xyz(width, height)
    red = xyz[0] * (255 / width)
    green = xyz[1] * (255 / height)
    blue = (xyz[0] + xyz[1]) * (127 / (width + height)) + 32 + (seed * 37) % 64
    image = red.bandjoin([green, blue]) + pyvips.Image.gaussnoise(
        width, height, sigma=noise, seed=seed
    )
    image = image.cast("uchar").copy(interpretation="srgb")
    for i in range(4):
        colour = [(seed * 53 + i * 71) % 256, (seed * 29 + i * 97) % 256, (i * 61) % 256]
        left = (seed * 17 + i * width // 5) % (width - width // 6)
        top = (seed * 23 + i * height // 5) % (height - height // 6)
        image = image.draw_rect(colour, left, top, width // 6, height // 6, fill=True)
    return image


def jpeg(width: int, height: int, seed: int = 1) -> bytes:
    data: bytes = picture(width, height, seed).jpegsave_buffer(Q=88)
    return data


def png(width: int, height: int, seed: int = 1) -> bytes:
    data: bytes = picture(width, height, seed, noise=2.0).pngsave_buffer(compression=6)
    return data


def decode(data: bytes) -> Any:
    """The image libvips reads from `data`, fully decoded (a broken file raises here)."""
    image = pyvips.Image.new_from_buffer(data, "", fail_on="error")
    image.avg()  # forces the decode of every pixel
    return image


def loader(image: Any) -> str:
    name: str = image.get("vips-loader")
    return name


@dataclass(frozen=True)
class Served:
    body: bytes
    content_type: str


class ImageServer:
    """A threaded HTTP server on 127.0.0.1 that serves registered paths and logs requests."""

    def __init__(self) -> None:
        self._files: dict[str, Served] = {}
        self._requests: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="e2e-image-server", daemon=True
        )

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def add(self, path: str, body: bytes, content_type: str) -> str:
        with self._lock:
            self._files[path] = Served(body, content_type)
        return self.url(path)

    def requests(self) -> list[str]:
        with self._lock:
            return list(self._requests)

    def start(self) -> "ImageServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def _lookup(self, path: str) -> Served | None:
        with self._lock:
            self._requests.append(path)
            return self._files.get(path)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                served = server._lookup(self.path)
                if served is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", served.content_type)
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the tests read `requests()` instead

        return Handler
