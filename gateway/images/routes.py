"""GET and HEAD /api/v1/image-processor/{image_id}: a variant, streamed or by presigned URL.

Downloads behave as clients and CDNs expect of a static file: `ETag` with `If-None-Match`
(304), a single `Range` (206, 416 past the end) and `HEAD` for the headers alone.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from common.errors import Conflict, DependencyUnavailable, NotFound
from gateway.deps import S3, Presigner, SettingsDep, Tasks, VisibleOwner
from gateway.errors import ERROR_RESPONSES, error_doc
from gateway.images.errors import RangeNotSatisfiable
from gateway.settings import Settings
from schemas.tasks import ORIGINAL, ImageStatus, StoredImage

router = APIRouter(prefix="/api/v1", tags=["images"])
_PATH = "/image-processor/{image_id}"
_CHUNK_BYTES = 256 * 1024
_ONE_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# Offsets past what S3 takes (a signed 64-bit number) mean "to the end" all the same.
_MAX_OFFSET = 2**63 - 1
_CACHE_CONTROL = "private, max-age=86400"
# `W/"tag"`: a weak validator. If-None-Match compares weakly, S3 strongly: the prefix goes.
_WEAK_PREFIX = re.compile(r'W/(?=")')


def object_key(stored: StoredImage, variant: str | None) -> str:
    if variant == ORIGINAL:
        if stored.source_kind != "s3":
            raise NotFound("this image came from a URL; its original is not stored")
        return stored.source_ref
    if not stored.output_keys:
        if stored.image.status is ImageStatus.FAILED:
            raise Conflict("the image failed; it has no variants", code="image_failed")
        if stored.image.status is ImageStatus.CANCELLED:
            raise Conflict("the image was cancelled; it has no variants", code="image_cancelled")
        raise Conflict("the image is not processed yet", code="image_not_ready")
    name = variant or next(iter(stored.output_keys))
    if name not in stored.output_keys:
        raise NotFound(
            f"no variant {name!r}; this image has {', '.join(sorted(stored.output_keys))}",
            code="unknown_variant",
        )
    return stored.output_keys[name]


def single_range(header: str) -> str | None:
    """The header if it asks for one range of bytes (`first-last`, `first-` or `-suffix`).

    Anything else (several ranges, other units, `last` before `first`) is ignored and the
    whole object is sent, as HTTP allows. Offsets past any object's size are cut down to
    one S3 takes.
    """
    match = _ONE_RANGE.fullmatch(header.strip())
    if not match:
        return None
    first, last = (_offset(digits) if digits else None for digits in match.groups())
    if first is None and last is None:
        return None
    if first is not None and last is not None and last < first:
        return None
    return f"bytes={'' if first is None else first}-{'' if last is None else last}"


def _offset(digits: str) -> int:
    # Checked by length first: int() refuses strings of thousands of digits with an error.
    return _MAX_OFFSET if len(digits) > 19 else min(int(digits), _MAX_OFFSET)


async def _body(stream: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(stream.read, _CHUNK_BYTES):
            yield chunk
    finally:
        stream.close()


def _headers(obj: dict[str, Any]) -> dict[str, str]:
    headers = {
        "Content-Length": str(obj["ContentLength"]),
        "ETag": obj.get("ETag", ""),
        "Cache-Control": _CACHE_CONTROL,
        "Accept-Ranges": "bytes",
    }
    if "ContentRange" in obj:
        headers["Content-Range"] = obj["ContentRange"]
    return headers


@router.get(
    _PATH,
    summary="A processed image",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"image/*": {}}, "description": "the variant's bytes"},
        206: {"content": {"image/*": {}}, "description": "the bytes the `Range` header asked for"},
        302: {"description": "with `redirect=1`: a presigned S3 URL in Location"},
        304: {"description": "`If-None-Match` names the variant's current ETag"},
        409: error_doc("`image_not_ready`, `image_failed`, `image_cancelled`"),
        416: error_doc("`range_not_satisfiable`: the range starts past the end"),
        **ERROR_RESPONSES,
    },
)
async def get_image(
    request: Request,
    image_id: UUID,
    owner: VisibleOwner,
    tasks: Tasks,
    s3: S3,
    presigner: Presigner,
    settings: SettingsDep,
    variant: Annotated[
        str | None,
        Query(description="a variant name; `original` for the source; default: the first"),
    ] = None,
    redirect: Annotated[bool, Query(description="answer 302 to a presigned URL")] = False,
    range_: Annotated[
        str | None, Header(alias="Range", description="one range, e.g. `bytes=0-1023`")
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="an ETag from an earlier download")
    ] = None,
) -> Any:
    stored = await tasks.get_image(image_id, owner)
    params = {"Bucket": settings.s3_bucket, "Key": object_key(stored, variant)}
    if redirect:
        return RedirectResponse(await _presigned_url(presigner, params, settings), 302)
    if if_none_match:
        params["IfNoneMatch"] = _WEAK_PREFIX.sub("", if_none_match)
    head = request.method == "HEAD"
    if range_ and not head and (one_range := single_range(range_)):
        params["Range"] = one_range
    try:
        obj = await asyncio.to_thread(s3.head_object if head else s3.get_object, **params)
    except ClientError as error:
        return await _refusal(error, s3, params)
    except BotoCoreError as error:
        raise DependencyUnavailable(f"object storage: {error}") from error
    media_type = obj.get("ContentType", "application/octet-stream")
    status = 206 if "ContentRange" in obj else 200
    if head:
        return Response(status_code=status, media_type=media_type, headers=_headers(obj))
    return StreamingResponse(
        _body(obj["Body"]), status_code=status, media_type=media_type, headers=_headers(obj)
    )


# HEAD is its own operation in the OpenAPI document: the same answer without the body.
router.add_api_route(
    _PATH,
    get_image,
    methods=["HEAD"],
    summary="A processed image's headers",
    operation_id="head_image",
    response_class=Response,
    responses={
        200: {"description": "the headers GET would send, without the body"},
        304: {"description": "`If-None-Match` names the variant's current ETag"},
        409: error_doc("`image_not_ready`, `image_failed`, `image_cancelled`"),
        **ERROR_RESPONSES,
    },
)


async def _presigned_url(presigner: Any, params: dict[str, str], settings: Settings) -> str:
    try:
        url: str = await asyncio.to_thread(
            presigner.generate_presigned_url,
            "get_object",
            Params=params,
            ExpiresIn=settings.presigned_url_seconds,
        )
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"object storage: {error}") from error
    return url


async def _refusal(error: ClientError, s3: Any, params: dict[str, str]) -> Response:
    """S3's answer to a conditional or ranged request, as ours; anything else is S3 failing."""
    metadata = error.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode")
    if status == 304:
        etag = metadata.get("HTTPHeaders", {}).get("etag")
        headers = {"Cache-Control": _CACHE_CONTROL, **({"ETag": etag} if etag else {})}
        return Response(status_code=304, headers=headers)
    if status == 404:
        raise NotFound(
            "the image is not in storage: its source is still on its way from the gateway's"
            " spool, or the object was removed"
        )
    if status == 416:
        # The size, so that a client resuming a download knows it already has it all.
        try:
            obj = await asyncio.to_thread(
                s3.head_object, Bucket=params["Bucket"], Key=params["Key"]
            )
        except (BotoCoreError, ClientError) as head_error:
            raise DependencyUnavailable(f"object storage: {head_error}") from head_error
        raise RangeNotSatisfiable(
            "the range starts past the end of the image",
            headers={"Content-Range": f"bytes */{obj['ContentLength']}"},
        )
    raise DependencyUnavailable(f"object storage: {error}") from error
