"""The S3 client every service builds the same way."""

from typing import Any

import boto3
from botocore.config import Config

from common.settings import S3Settings


def s3_client(
    settings: S3Settings,
    *,
    timeout_seconds: float = 10,
    attempts: int = 3,
    endpoint_url: str | None = None,
) -> Any:
    """A client of the configured S3 server, at `endpoint_url` when given (the address the
    server has for someone else, e.g. clients following a presigned URL)."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url or settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.secret("s3_access_key"),
        aws_secret_access_key=settings.secret("s3_secret_key"),
        config=Config(
            signature_version="s3v4",
            # Path-style: S3-compatible servers on a plain host:port have no bucket subdomains.
            s3={"addressing_style": "path"},
            connect_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
            retries={"max_attempts": attempts, "mode": "standard"},
            # Content integrity is the transport's and the server's job here; the optional
            # CRC checksums cost CPU per object and not every S3-compatible server takes them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )
