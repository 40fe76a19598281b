"""Multipart uploads streamed into S3 part by part, sniffed, and held to the limits.

A file never sits whole in memory: each is forwarded to S3 in parts of `upload_part_bytes`
as the request body arrives. When S3 refuses, files go to the local spool instead and are
uploaded later. On any refusal of the request every object it wrote is removed, in S3 and in
the spool, so a refused submission leaves nothing behind.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

from botocore.exceptions import BotoCoreError, ClientError
from python_multipart.multipart import MultipartParser, parse_options_header

from common import metrics
from gateway.spool import Spool, SpoolFull, SpoolWriter
from gateway.tasks.errors import BadSubmission, PayloadTooLarge, UnsupportedMediaType
from processor.engine.formats import sniff
from schemas.errors import ErrorCode
from schemas.images import SourceFormat
from schemas.limits import MAX_PARAMETERS_BYTES

log = logging.getLogger(__name__)

# Enough for every format's signature, an SVG's prologue included.
_SNIFF_BYTES = 4096
_MAX_FIELD_BYTES = 64 * 1024
_MAX_FIELDS = 2000
_MAX_NAME_LENGTH = 255

MEDIA_TYPES: dict[SourceFormat, str] = {
    SourceFormat.JPEG: "image/jpeg",
    SourceFormat.PNG: "image/png",
    SourceFormat.WEBP: "image/webp",
    SourceFormat.GIF: "image/gif",
    SourceFormat.TIFF: "image/tiff",
    SourceFormat.HEIC: "image/heic",
    SourceFormat.AVIF: "image/avif",
    SourceFormat.SVG: "image/svg+xml",
    SourceFormat.PDF: "application/pdf",
}


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int
    max_files: int
    max_total_bytes: int
    part_bytes: int
    accepted: frozenset[SourceFormat]


@dataclass(frozen=True)
class ReceivedFile:
    image_id: UUID
    name: str | None
    key: str
    size: int
    format: SourceFormat
    # In the local spool, not in S3 yet (S3 refused it).
    spooled: bool = False


@dataclass
class ReceivedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)


def source_key(task_id: UUID, image_id: UUID) -> str:
    return f"sources/{task_id}/{image_id}"


class _S3Down:
    """Shared by a request's uploads: once S3 refused one, the rest go straight to the spool."""

    def __init__(self) -> None:
        self.down = False


class _SourceUpload:
    """One file on its way to S3: a single PUT when small, a multipart upload otherwise.

    While a multipart upload is in flight its bytes are also teed to the spool, so that if S3
    fails half-way the file is still whole locally; when S3 takes it, the copy is dropped.
    A spool without room for the copy does not stop an upload S3 is taking: it goes on
    without one, and only if S3 then fails half-way is the file refused as the spool is full.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        key: str,
        name: str | None,
        limits: UploadLimits,
        spool: Spool,
        s3_state: _S3Down,
    ) -> None:
        self._s3, self._bucket, self.key, self.name = s3, bucket, key, name
        self._limits = limits
        self._spool = spool
        self._s3_state = s3_state
        self.image_id = UUID(key.rsplit("/", 1)[1])
        self._buffer = bytearray()
        self._head = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []
        self._tee: SpoolWriter | None = None
        self._copy_given_up = False
        self.spooled = False
        self.size = 0
        self.format: SourceFormat | None = None
        if s3_state.down:
            self._start_spooling()

    async def write(self, data: bytes) -> None:
        metrics.UPLOADED_BYTES.inc(len(data))
        self.size += len(data)
        if self.size > self._limits.max_file_bytes:
            raise PayloadTooLarge(
                f"{self._label} is over the {self._limits.max_file_bytes} byte limit per file"
            )
        if len(self._head) < _SNIFF_BYTES:
            self._head += data[: _SNIFF_BYTES - len(self._head)]
            if len(self._head) >= _SNIFF_BYTES:
                self._sniff()
        if self._tee is not None:
            self._copy(data)
        if self.spooled:
            return
        self._buffer += data
        if len(self._buffer) >= self._limits.part_bytes:
            await self._send_part()

    @property
    def _label(self) -> str:
        return f"file {self.name!r}" if self.name else "a file"

    def _sniff(self) -> None:
        found = sniff(bytes(self._head))
        if found is None or found not in self._limits.accepted:
            kind = f"{found} files are" if found else "its content is"
            raise UnsupportedMediaType(f"{self._label}: {kind} not an accepted image format")
        self.format = found

    def _copy(self, data: bytes) -> None:
        assert self._tee is not None
        try:
            self._tee.write(data)
        except SpoolFull:
            if self.spooled:
                raise
            self._tee.abandon()
            self._tee = None
            self._copy_given_up = True

    def _start_spooling(self) -> None:
        if self._tee is None:
            if self._parts:
                # Parts S3 took are no longer in memory, and there was no room to copy them.
                raise SpoolFull(
                    f"storage failed half-way through {self._label} and the spool has no room"
                    " for it; nothing was accepted"
                )
            self._tee = self._spool.open(self.image_id)
            self._tee.write(bytes(self._buffer))
        self._buffer.clear()
        self.spooled = True

    async def _s3_failed(self, error: Exception) -> None:
        log.warning("S3 refused source %s (%s); spooling it", self.key, error)
        self._s3_state.down = True
        await self._abort_multipart()
        self._start_spooling()

    async def _send_part(self) -> None:
        if self._tee is None and not self._copy_given_up:
            # From the first part on, keep a whole copy until S3 has the whole file.
            self._tee = self._spool.open(self.image_id)
            self._copy(bytes(self._buffer))
        try:
            if self._upload_id is None:
                created = await asyncio.to_thread(
                    self._s3.create_multipart_upload,
                    Bucket=self._bucket,
                    Key=self.key,
                    ContentType=MEDIA_TYPES[self._known_format],
                )
                self._upload_id = created["UploadId"]
            number = len(self._parts) + 1
            sent = await asyncio.to_thread(
                self._s3.upload_part,
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=bytes(self._buffer),
            )
        except (BotoCoreError, ClientError) as error:
            await self._s3_failed(error)
            return
        self._parts.append({"PartNumber": number, "ETag": sent["ETag"]})
        self._buffer.clear()

    @property
    def _known_format(self) -> SourceFormat:
        assert self.format is not None
        return self.format

    async def finish(self) -> ReceivedFile:
        if self.size == 0:
            raise BadSubmission(f"{self._label} is empty", code=ErrorCode.EMPTY_FILE.value)
        if self.format is None:
            self._sniff()
        if not self.spooled:
            try:
                await self._store_in_s3()
            except (BotoCoreError, ClientError) as error:
                await self._s3_failed(error)
        if self.spooled:
            assert self._tee is not None
            await self._tee.close()
            self._tee = None
        elif self._tee is not None:
            self._tee.abandon()
            self._tee = None
        return ReceivedFile(
            self.image_id, self.name, self.key, self.size, self._known_format, self.spooled
        )

    async def _store_in_s3(self) -> None:
        if self._upload_id is None:
            await asyncio.to_thread(
                self._s3.put_object,
                Bucket=self._bucket,
                Key=self.key,
                Body=bytes(self._buffer),
                ContentType=MEDIA_TYPES[self._known_format],
            )
            return
        if self._buffer:
            await self._send_part()
            if self.spooled:
                return
        await asyncio.to_thread(
            self._s3.complete_multipart_upload,
            Bucket=self._bucket,
            Key=self.key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    async def _abort_multipart(self) -> None:
        if self._upload_id is not None:
            upload_id, self._upload_id = self._upload_id, None
            with contextlib.suppress(BotoCoreError, ClientError):
                await asyncio.to_thread(
                    self._s3.abort_multipart_upload,
                    Bucket=self._bucket,
                    Key=self.key,
                    UploadId=upload_id,
                )

    async def abort(self) -> None:
        await self._abort_multipart()
        if self._tee is not None:
            self._tee.abandon()
            self._tee = None


class _Part:
    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.field_name = b""
        self.value = b""


def _disposition(part: _Part) -> tuple[str, str | None]:
    _, options = parse_options_header(part.headers.get("content-disposition", ""))
    name = options.get(b"name", b"").decode(errors="replace")
    filename = options.get(b"filename")
    if filename is None:
        return name, None
    # Kept as text PostgreSQL can store: a NUL turns into U+FFFD, as undecodable bytes do.
    return name, filename.decode(errors="replace").replace("\x00", "\ufffd")[:_MAX_NAME_LENGTH]


async def receive_form(
    body: AsyncIterator[bytes],
    content_type: str,
    *,
    s3: Any,
    bucket: str,
    task_id: UUID,
    limits: UploadLimits,
    spool: Spool,
) -> ReceivedForm:
    """Parse a multipart body: fields kept, `file` parts streamed into S3 as sources."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise BadSubmission("multipart body without a boundary")

    events: list[tuple[str, bytes]] = []
    header_field = bytearray()
    header_value = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        events.append(("header", bytes(header_field) + b"\x00" + bytes(header_value)))
        header_field.clear()
        header_value.clear()

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": lambda: events.append(("begin", b"")),
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": lambda: events.append(("headers", b"")),
                "on_part_data": lambda data, start, end: events.append(("data", data[start:end])),
                "on_part_end": lambda: events.append(("end", b"")),
            },
        )
    except Exception as error:
        # The parser refuses some boundaries (over 256 characters) as it starts.
        raise BadSubmission(f"malformed multipart body: {error}") from error
    form = ReceivedForm()
    state = _FormState(form, s3, bucket, task_id, limits, spool)
    try:
        async for chunk in body:
            try:
                parser.write(chunk)
            except Exception as error:
                raise BadSubmission(f"malformed multipart body: {error}") from error
            await state.apply(events)
            events.clear()
        parser.finalize()
        await state.apply(events)
        if state.part is not None or state.upload is not None:
            raise BadSubmission("the multipart body ended in the middle of a part")
    except BaseException:
        await state.discard()
        raise
    return form


class _FormState:
    def __init__(
        self,
        form: ReceivedForm,
        s3: Any,
        bucket: str,
        task_id: UUID,
        limits: UploadLimits,
        spool: Spool,
    ) -> None:
        self.form = form
        self.s3 = s3
        self.bucket = bucket
        self.task_id = task_id
        self.limits = limits
        self.spool = spool
        self.s3_state = _S3Down()
        self.part: _Part | None = None
        self.upload: _SourceUpload | None = None
        self.total_bytes = 0
        self.field_count = 0
        self.field_bytes = 0

    async def apply(self, events: list[tuple[str, bytes]]) -> None:
        for kind, data in events:
            if kind == "begin":
                self.part = _Part()
            elif kind == "header" and self.part is not None:
                name, _, value = data.partition(b"\x00")
                self.part.headers[name.decode("latin-1").lower()] = value.decode("latin-1")
            elif kind == "headers":
                self._start_part()
            elif kind == "data":
                await self._data(data)
            elif kind == "end":
                await self._end_part()

    def _start_part(self) -> None:
        assert self.part is not None
        name, filename = _disposition(self.part)
        self.part.field_name = name.encode()
        if name != "file":
            self.field_count += 1
            if self.field_count > _MAX_FIELDS:
                raise BadSubmission("too many form fields")
            return
        if len(self.form.files) >= self.limits.max_files:
            raise PayloadTooLarge(
                f"more than {self.limits.max_files} images in one task",
                code="too_many_images",
            )
        key = source_key(self.task_id, uuid4())
        self.upload = _SourceUpload(
            self.s3, self.bucket, key, filename, self.limits, self.spool, self.s3_state
        )

    async def _data(self, data: bytes) -> None:
        if self.upload is not None:
            self.total_bytes += len(data)
            if self.total_bytes > self.limits.max_total_bytes:
                raise PayloadTooLarge(
                    f"the task is over the {self.limits.max_total_bytes} byte limit",
                    code="task_too_large",
                )
            await self.upload.write(data)
        elif self.part is not None:
            self.part.value += data
            if len(self.part.value) > _MAX_FIELD_BYTES:
                raise PayloadTooLarge(
                    f"form field {self.part.field_name.decode()!r} is over"
                    f" {_MAX_FIELD_BYTES} bytes",
                    code="request_too_large",
                )
            self.field_bytes += len(data)
            if self.field_bytes > MAX_PARAMETERS_BYTES:
                raise PayloadTooLarge(
                    f"the form's fields are over {MAX_PARAMETERS_BYTES} bytes together",
                    code="request_too_large",
                )

    async def _end_part(self) -> None:
        if self.upload is not None:
            upload, self.upload = self.upload, None
            try:
                self.form.files.append(await upload.finish())
            except BaseException:
                await upload.abort()
                await discard_sources(self.s3, self.bucket, self.spool, [upload.key], [])
                raise
        elif self.part is not None:
            name = self.part.field_name.decode(errors="replace")
            self.form.fields.setdefault(name, []).append(self.part.value.decode(errors="replace"))
        self.part = None

    async def discard(self) -> None:
        if self.upload is not None:
            await self.upload.abort()
        await discard_received(self.s3, self.bucket, self.spool, self.form.files)


async def discard_received(s3: Any, bucket: str, spool: Spool, files: list[ReceivedFile]) -> None:
    """Remove what a request stored, in S3 and in the spool."""
    await discard_sources(
        s3,
        bucket,
        spool,
        [f.key for f in files if not f.spooled],
        [str(f.image_id) for f in files if f.spooled],
    )


async def discard_sources(
    s3: Any, bucket: str, spool: Spool, keys: list[str], spooled_ids: list[str]
) -> None:
    spool.discard(spooled_ids)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        try:
            await asyncio.to_thread(
                s3.delete_objects, Bucket=bucket, Delete={"Objects": batch, "Quiet": True}
            )
        except (BotoCoreError, ClientError) as error:
            # Unreferenced sources are harmless; a refusal must not turn into a 500.
            log.warning("could not delete %d refused sources: %s", len(batch), error)
