"""GET /api/v1/image-processor/{image_id}: a variant, streamed or by presigned URL."""

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, StreamingResponse

from common.errors import Conflict, DependencyUnavailable, NotFound
from gateway.deps import S3, Presigner, SettingsDep, Tasks, VisibleOwner
from gateway.errors import ERROR_RESPONSES, error_doc
from schemas.tasks import ORIGINAL, ImageStatus, StoredImage

router = APIRouter(prefix="/api/v1", tags=["images"])
_CHUNK_BYTES = 256 * 1024


def _object_key(stored: StoredImage, variant: str | None) -> str:
    if variant == ORIGINAL:
        if stored.source_kind != "s3":
            raise NotFound("this image came from a URL; its original is not stored")
        return stored.source_ref
    if not stored.output_keys:
        if stored.image.status is ImageStatus.FAILED:
            raise Conflict("the image failed; it has no variants", code="image_failed")
        raise Conflict("the image is not processed yet", code="image_not_ready")
    name = variant or next(iter(stored.output_keys))
    if name not in stored.output_keys:
        raise NotFound(
            f"no variant {name!r}; this image has {', '.join(sorted(stored.output_keys))}",
            code="unknown_variant",
        )
    return stored.output_keys[name]


async def _body(stream: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(stream.read, _CHUNK_BYTES):
            yield chunk
    finally:
        stream.close()


@router.get(
    "/image-processor/{image_id}",
    summary="A processed image",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"image/*": {}}, "description": "the variant's bytes"},
        302: {"description": "with `redirect=1`: a presigned S3 URL in Location"},
        409: error_doc("`image_not_ready`, `image_failed`"),
        **ERROR_RESPONSES,
    },
)
async def get_image(
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
) -> Any:
    stored = await tasks.get_image(image_id, owner)
    key = _object_key(stored, variant)
    try:
        if redirect:
            url = await asyncio.to_thread(
                presigner.generate_presigned_url,
                "get_object",
                Params={"Bucket": settings.s3_bucket, "Key": key},
                ExpiresIn=settings.presigned_url_seconds,
            )
            return RedirectResponse(url, status_code=302)
        obj = await asyncio.to_thread(s3.get_object, Bucket=settings.s3_bucket, Key=key)
    except (BotoCoreError, ClientError) as error:
        raise DependencyUnavailable(f"object storage: {error}") from error
    return StreamingResponse(
        _body(obj["Body"]),
        media_type=obj.get("ContentType", "application/octet-stream"),
        headers={
            "Content-Length": str(obj["ContentLength"]),
            "ETag": obj.get("ETag", ""),
            "Cache-Control": "private, max-age=86400",
        },
    )
