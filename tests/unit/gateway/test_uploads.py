"""Streaming multipart uploads against a small in-memory S3 fake."""

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from botocore.exceptions import EndpointConnectionError

from gateway.spool import Spool, SpoolFull
from gateway.tasks.errors import BadSubmission, PayloadTooLarge, UnsupportedMediaType
from gateway.tasks.uploads import ReceivedForm, UploadLimits, receive_form
from schemas.images import SourceFormat

BOUNDARY = "pixelmill-test-boundary"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a PNG signature, then filler
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 20_000


class FakeS3:
    """Records what the upload code asks of S3; holds objects in a dict.

    `down_after` makes every call after that many fail as an unreachable endpoint would.
    """

    def __init__(self, down_after: int | None = None) -> None:
        self.down_after = down_after
        self.calls = 0
        self.objects: dict[str, bytes] = {}
        self.multipart: dict[str, list[bytes]] = {}
        self.aborted: list[str] = []
        self.largest_part = 0

    def _call(self) -> None:
        self.calls += 1
        if self.down_after is not None and self.calls > self.down_after:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> None:
        self._call()
        self.objects[Key] = Body

    def create_multipart_upload(self, Bucket: str, Key: str, ContentType: str) -> dict[str, str]:
        self._call()
        self.multipart[Key] = []
        return {"UploadId": Key}

    def upload_part(
        self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: bytes
    ) -> Any:
        self._call()
        self.multipart[UploadId].append(Body)
        self.largest_part = max(self.largest_part, len(Body))
        return {"ETag": f"etag-{PartNumber}"}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str, **_: Any) -> None:
        self._call()
        self.objects[Key] = b"".join(self.multipart.pop(UploadId))

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> None:
        self.aborted.append(Key)
        self.multipart.pop(UploadId, None)

    def delete_object(self, Bucket: str, Key: str) -> None:
        self._call()
        self.objects.pop(Key, None)

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


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", max_bytes=10_000_000, retry_delays=[1.0])


def receive(s3: FakeS3, spool: Spool, body: bytes, **limit_overrides: Any) -> ReceivedForm:
    return asyncio.run(
        receive_form(
            chunks(body),
            f"multipart/form-data; boundary={BOUNDARY}",
            s3=s3,
            bucket="b",
            task_id=uuid4(),
            limits=limits(**limit_overrides),
            spool=spool,
        )
    )


def spooled_files(spool: Spool) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in spool.directory.iterdir()}


def test_files_are_stored_whole_and_fields_kept(spool: Spool) -> None:
    s3 = FakeS3()
    body = multipart(
        [
            ("width", None, b"300"),
            ("file", "a.png", PNG),
            ("file", "b.jpg", JPEG),
            ("url", None, b"https://x/y"),
        ]
    )

    form = receive(s3, spool, body)

    assert form.fields == {"width": ["300"], "url": ["https://x/y"]}
    assert [(f.name, f.format, f.size) for f in form.files] == [
        ("a.png", SourceFormat.PNG, len(PNG)),
        ("b.jpg", SourceFormat.JPEG, len(JPEG)),
    ]
    assert [s3.objects[f.key] for f in form.files] == [PNG, JPEG]
    assert all(f.key.startswith("sources/") for f in form.files)


def test_a_nul_in_a_file_name_becomes_a_replacement_character(spool: Spool) -> None:
    form = receive(FakeS3(), spool, multipart([("file", "a\x00b.png", PNG)]))

    assert [f.name for f in form.files] == ["a\ufffdb.png"]


def test_a_large_file_goes_up_in_parts_no_bigger_than_the_part_size(spool: Spool) -> None:
    s3 = FakeS3()

    form = receive(s3, spool, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    assert s3.objects[form.files[0].key] == JPEG
    assert 0 < s3.largest_part <= 4096 + 1000  # a part, plus at most one body chunk


def test_content_that_is_not_an_image_is_refused_and_nothing_is_left(spool: Spool) -> None:
    s3 = FakeS3()
    body = multipart([("file", "ok.png", PNG), ("file", "notes.jpg", b"just some text\n" * 400)])

    with pytest.raises(UnsupportedMediaType):
        receive(s3, spool, body)

    assert s3.objects == {}


def test_svg_is_refused_by_default(spool: Spool) -> None:
    s3 = FakeS3()
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    with pytest.raises(UnsupportedMediaType, match="svg"):
        receive(s3, spool, multipart([("file", "x.svg", svg)]))


def test_a_file_over_the_limit_is_refused_and_its_upload_aborted(spool: Spool) -> None:
    s3 = FakeS3()
    body = multipart([("file", "ok.png", PNG), ("file", "huge.jpg", JPEG)])

    with pytest.raises(PayloadTooLarge) as refused:
        receive(s3, spool, body, max_file_bytes=15_000, part_bytes=4096)

    assert refused.value.code == "file_too_large"
    assert s3.objects == {}
    assert s3.multipart == {}
    assert len(s3.aborted) == 1


def test_too_many_files_is_refused(spool: Spool) -> None:
    s3 = FakeS3()
    with pytest.raises(PayloadTooLarge) as refused:
        receive(s3, spool, multipart([("file", f"{i}.png", PNG) for i in range(3)]), max_files=2)
    assert refused.value.code == "too_many_images"
    assert s3.objects == {}


def test_the_task_byte_limit_counts_all_files(spool: Spool) -> None:
    s3 = FakeS3()
    with pytest.raises(PayloadTooLarge) as refused:
        receive(
            s3,
            spool,
            multipart([("file", f"{i}.jpg", JPEG) for i in range(3)]),
            max_total_bytes=50_000,
        )
    assert refused.value.code == "task_too_large"
    assert s3.objects == {}


def test_an_empty_file_is_refused(spool: Spool) -> None:
    s3 = FakeS3()
    with pytest.raises(BadSubmission) as refused:
        receive(s3, spool, multipart([("file", "empty.jpg", b"")]))
    assert refused.value.code == "empty_file"


def test_a_body_cut_in_the_middle_of_a_file_leaves_nothing(spool: Spool) -> None:
    s3 = FakeS3()
    body = multipart([("file", "a.png", PNG), ("file", "b.jpg", JPEG)])

    with pytest.raises(BadSubmission):
        receive(s3, spool, body[: len(body) // 2 + 5000], part_bytes=4096)

    assert s3.objects == {}
    assert s3.multipart == {}


def test_a_multipart_type_without_boundary_is_refused(spool: Spool) -> None:
    with pytest.raises(BadSubmission, match="boundary"):
        asyncio.run(
            receive_form(
                chunks(b""),
                "multipart/form-data",
                s3=FakeS3(),
                bucket="b",
                task_id=uuid4(),
                limits=limits(),
                spool=spool,
            )
        )


def test_when_s3_refuses_a_small_file_it_is_spooled_whole(spool: Spool) -> None:
    s3 = FakeS3(down_after=0)

    form = receive(s3, spool, multipart([("file", "a.png", PNG), ("file", "b.png", PNG)]))

    assert [f.spooled for f in form.files] == [True, True]
    assert spooled_files(spool) == {f"{f.image_id}.data": PNG for f in form.files}
    assert s3.objects == {}


def test_when_s3_fails_half_way_through_a_large_file_the_whole_file_is_spooled(
    spool: Spool,
) -> None:
    s3 = FakeS3(down_after=2)  # create_multipart_upload and the first part succeed

    form = receive(s3, spool, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    (received,) = form.files
    assert received.spooled
    assert spooled_files(spool) == {f"{received.image_id}.data": JPEG}
    assert s3.multipart == {}  # the half-done upload was aborted


def test_a_file_stored_in_s3_leaves_no_copy_in_the_spool(spool: Spool) -> None:
    form = receive(FakeS3(), spool, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    assert not form.files[0].spooled
    assert spooled_files(spool) == {}
    assert spool.used_bytes == 0


def test_a_full_spool_refuses_the_request_with_503_and_keeps_nothing(tmp_path: Path) -> None:
    small = Spool(tmp_path / "small", max_bytes=30_000, retry_delays=[1.0])
    body = multipart([("file", "a.jpg", JPEG), ("file", "b.jpg", JPEG)])

    with pytest.raises(SpoolFull) as refused:
        receive(FakeS3(down_after=0), small, body)

    assert refused.value.status_code == 503
    assert refused.value.headers == {"Retry-After": "30"}
    assert spooled_files(small) == {}
    assert small.used_bytes == 0


@pytest.mark.parametrize("room", [0, 6000])
def test_a_spool_without_room_for_the_copy_does_not_stop_an_upload_s3_takes(
    tmp_path: Path, room: int
) -> None:
    # No room at all, or room that runs out after the first part.
    small = Spool(tmp_path / "small", max_bytes=room, retry_delays=[1.0])
    s3 = FakeS3()

    form = receive(s3, small, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    (received,) = form.files
    assert not received.spooled
    assert s3.objects[received.key] == JPEG
    assert spooled_files(small) == {}
    assert small.used_bytes == 0


def test_s3_failing_half_way_without_room_for_a_copy_refuses_with_503_and_keeps_nothing(
    tmp_path: Path,
) -> None:
    small = Spool(tmp_path / "small", max_bytes=0, retry_delays=[1.0])
    s3 = FakeS3(down_after=2)  # create_multipart_upload and the first part succeed

    with pytest.raises(SpoolFull) as refused:
        receive(s3, small, multipart([("file", "big.jpg", JPEG)]), part_bytes=4096)

    assert refused.value.code == "spool_full"
    assert s3.objects == {} and s3.multipart == {}
    assert spooled_files(small) == {}
    assert small.used_bytes == 0


def test_form_fields_over_a_mebibyte_together_are_refused_and_nothing_is_left(
    spool: Spool,
) -> None:
    s3 = FakeS3()
    fields = [(f"note{i}", None, b"x" * 60_000) for i in range(18)]  # each under the field limit

    with pytest.raises(PayloadTooLarge) as refused:
        receive(s3, spool, multipart([("file", "a.jpg", JPEG), *fields]))

    assert refused.value.code == "request_too_large"
    assert s3.objects == {}


def test_a_boundary_the_parser_refuses_is_a_400(spool: Spool) -> None:
    with pytest.raises(BadSubmission, match="malformed multipart body"):
        asyncio.run(
            receive_form(
                chunks(b"x"),
                f"multipart/form-data; boundary={'z' * 257}",
                s3=FakeS3(),
                bucket="b",
                task_id=uuid4(),
                limits=limits(),
                spool=spool,
            )
        )


def test_one_form_field_over_its_limit_is_refused_as_too_large(spool: Spool) -> None:
    with pytest.raises(PayloadTooLarge) as refused:
        receive(FakeS3(), spool, multipart([("notes", None, b"x" * 70_000)]))

    assert refused.value.code == "request_too_large"
