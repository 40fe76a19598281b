"""Sources read from and results written to S3. Blocking boto3 calls: run them in threads."""

from typing import Any
from uuid import UUID

from botocore.exceptions import BotoCoreError, ClientError

from processor.engine import Output
from processor.jobs.errors import StorageError
from schemas.errors import ErrorCode
from schemas.images import OutputFormat

CONTENT_TYPES: dict[OutputFormat, str] = {
    OutputFormat.JPG: "image/jpeg",
    OutputFormat.PNG: "image/png",
    OutputFormat.WEBP: "image/webp",
    OutputFormat.AVIF: "image/avif",
    OutputFormat.GIF: "image/gif",
}
_MISSING = {"NoSuchKey", "404", "NotFound"}


def result_key(task_id: UUID, image_id: UUID, output: Output) -> str:
    # Built from server ids only; one key per variant, so a redelivered job overwrites its
    # own result instead of leaving a second one.
    return f"results/{task_id}/{image_id}/{output.variant}.{output.format.value}"


def _storage_error(error: Exception, action: str) -> StorageError:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in _MISSING:
            return StorageError(
                ErrorCode.SOURCE_NOT_FOUND, f"{action}: no such object", permanent=True
            )
        return StorageError(ErrorCode.STORAGE_UNAVAILABLE, f"{action}: {code}", permanent=False)
    return StorageError(ErrorCode.STORAGE_UNAVAILABLE, f"{action}: {error}", permanent=False)


def read_source(client: Any, bucket: str, key: str, max_bytes: int) -> bytes:
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        if response["ContentLength"] > max_bytes:
            raise StorageError(
                ErrorCode.FILE_TOO_LARGE,
                f"the source has {response['ContentLength']} bytes, over {max_bytes}",
                permanent=True,
            )
        data: bytes = response["Body"].read()
    except (BotoCoreError, ClientError) as error:
        raise _storage_error(error, "reading the source") from error
    return data


def write_result(client: Any, bucket: str, key: str, output: Output) -> None:
    try:
        client.put_object(
            Bucket=bucket, Key=key, Body=output.data, ContentType=CONTENT_TYPES[output.format]
        )
    except (BotoCoreError, ClientError) as error:
        raise _storage_error(error, "writing a result") from error
