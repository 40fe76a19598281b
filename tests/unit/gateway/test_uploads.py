"""Streaming multipart uploads against a small in-memory S3 fake."""

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest

from gateway.tasks.errors import BadSubmission, PayloadTooLarge, UnsupportedMediaType
from gateway.tasks.uploads import ReceivedForm, UploadLimits, receive_form
from schemas.images import SourceFormat

BOUNDARY = "pixelmill-test-boundary"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a PNG signature, then filler
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 20_000


class FakeS3:
    """Records what the upload code asks of S3; holds objects in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.multipart: dict[str, list[bytes]] = {}
        self.aborted: list[str] = []
        self.largest_part = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self.objects[Key] = Body

    def create_multipart_upload(self, Bucket: str, Key: str, ContentType: str) -> dict[str, str]:
        self.multipart[Key] = []
        return {"UploadId": Key}

    def upload_part(
        self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes
    ) -> Any:
        self.multipart[UploadId].append(Body)
        self.largest_part = max(self.largest_part, len(Body))
        return {"ETag": f"etag-{PartNumber}"}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_: Any) -> None:
        self.objects[Key] = b"".join(self.multipart.pop(UploadId))

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        self.aborted.append(Key)
        self.multipart.pop(UploadId, None)

    def delete_objects(self, Bucket: str, Delete: dict[str, Any]) -> None:
        for item in Delete["Objects"]:
            self.objects.pop(item["Key"], None)


def multipart(parts: list[tuple[str, str | None, bytes]]) -> bytes:
    out = io.BytesIO()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.write(f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        out.write(content + b"\r\n")
    out.write(f"--{BOUNDARY}--\r\n".encode())
    return out.getvalue()


async def chunks(body: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def limits(**overrides: Any) -> UploadLimits:
    values: dict[str, Any] = {
        "max_file_bytes": 1_000_000,
        "max_files": 10,
        "max_total_bytes": 10_000_000,
        "part_bytes": 8192,
        "accepted": frozenset(SourceFormat) - {SourceFormat.SVG, SourceFormat.PDF},
    }
    return UploadLimits(**(values | overrides))


def receive(s3: FakeS3, body: bytes, **limit_overrides: Any) -> ReceivedForm:
    return asyncio.run(
        receive_form(
            chunks(body),
            f"multipart/form-data; boundary={BOUNDARY}",
            s3=s3,
            bucket="b",
            task_id=uuid4(),
            limits=limits(**limit_overrides),
        )
    )


def test_files_are_stored_whole_and_fields_kept() -> None:
    s3 = FakeS3()
    body = multipart(
        [
            ("width", None, b"300"),
            ("file", "a.png", PNG),
            ("file", "b.jpg", JPEG),
            ("url", None, b"https://x/y"),
        ]
    )

    form = receive(s3, body)

    assert form.fields == {"width": ["300"], "url": ["https://x/y"]}
    assert [(f.name, f.format, f.size) for f in form.files] == [
        ("a.png", SourceFormat.PNG, len(PNG)),
        ("b.jpg", SourceFormat.JPEG, len(JPEG)),
    ]
    assert [s3.objects[f.key] for f in form.files] == [PNG, JPEG]
    assert all(f.key.startswith("sources/") for f in form.files)


def test_a_large_file_goes_up_in_parts_no_bigger_than_the_part_size() -> None:
    s3 = FakeS3()

    form = receive(s3, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    assert s3.objects[form.files[0].key] == JPEG
    assert 0 < s3.largest_part <= 4096 + 1000  # a part, plus at most one body chunk


def test_content_that_is_not_an_image_is_refused_and_nothing_is_left() -> None:
    s3 = FakeS3()
    body = multipart([("file", "ok.png", PNG), ("file", "notes.jpg", b"just some text\n" * 400)])

    with pytest.raises(UnsupportedMediaType):
        receive(s3, body)

    assert s3.objects == {}


def test_svg_is_refused_by_default() -> None:
    s3 = FakeS3()
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    with pytest.raises(UnsupportedMediaType, match="svg"):
        receive(s3, multipart([("file", "x.svg", svg)]))


def test_a_file_over_the_limit_is_refused_and_its_upload_aborted() -> None:
    s3 = FakeS3()
    body = multipart([("file", "ok.png", PNG), ("file", "huge.jpg", JPEG)])

    with pytest.raises(PayloadTooLarge) as refused:
        receive(s3, body, max_file_bytes=15_000, part_bytes=4096)

    assert refused.value.code == "file_too_large"
    assert s3.objects == {}
    assert s3.multipart == {}
    assert len(s3.aborted) == 1


def test_too_many_files_is_refused() -> None:
    s3 = FakeS3()
    with pytest.raises(PayloadTooLarge) as refused:
        receive(s3, multipart([("file", f"{i}.png", PNG) for i in range(3)]), max_files=2)
    assert refused.value.code == "too_many_images"
    assert s3.objects == {}


def test_the_task_byte_limit_counts_all_files() -> None:
    s3 = FakeS3()
    with pytest.raises(PayloadTooLarge) as refused:
        receive(
            s3, multipart([("file", f"{i}.jpg", JPEG) for i in range(3)]), max_total_bytes=50_000
        )
    assert refused.value.code == "task_too_large"
    assert s3.objects == {}


def test_an_empty_file_is_refused() -> None:
    s3 = FakeS3()
    with pytest.raises(BadSubmission) as refused:
        receive(s3, multipart([("file", "empty.jpg", b"")]))
    assert refused.value.code == "empty_file"


def test_a_body_cut_in_the_middle_of_a_file_leaves_nothing() -> None:
    s3 = FakeS3()
    body = multipart([("file", "a.png", PNG), ("file", "b.jpg", JPEG)])

    with pytest.raises(BadSubmission):
        receive(s3, body[: len(body) // 2 + 5000], part_bytes=4096)

    assert s3.objects == {}
    assert s3.multipart == {}


def test_a_multipart_type_without_boundary_is_refused() -> None:
    with pytest.raises(BadSubmission, match="boundary"):
        asyncio.run(
            receive_form(
                chunks(b""),
                "multipart/form-data",
                s3=FakeS3(),
                bucket="b",
                task_id=uuid4(),
                limits=limits(),
            )
        )
