"""A multipart/form-data body written part by part, for uploads that change the world midway.

httpx sends a generator body as it is produced (chunked), so code between two parts runs
while the request is open: after the first files reached the gateway, before the others.
"""

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence


class StreamedForm:
    def __init__(self) -> None:
        self.boundary = f"faults-{secrets.token_hex(12)}"

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def field(self, name: str, value: str) -> bytes:
        return (
            f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()

    def file(self, name: str, data: bytes, content_type: str) -> bytes:
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        return head + data + b"\r\n"

    def end(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode()

    def body(
        self,
        fields: Mapping[str, str],
        files: Sequence[tuple[str, bytes, str]],
        *,
        after: int,
        between: Callable[[], None],
    ) -> Iterator[bytes]:
        """Fields, the first `after` files, then `between()` runs, then the rest."""
        for name, value in fields.items():
            yield self.field(name, value)
        for index, (name, data, content_type) in enumerate(files):
            if index == after:
                between()
            yield self.file(name, data, content_type)
        yield self.end()
