import uuid

import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from common.s3 import s3_client
from common.settings import S3Settings


@pytest.fixture
def settings() -> S3Settings:
    return S3Settings()


def test_put_list_read_and_presigned_get(settings: S3Settings) -> None:
    client = s3_client(settings)
    prefix = f"smoke/{uuid.uuid4().hex}/"
    key = prefix + "hello.txt"
    body = b"pixelmill smoke test \x00\xff"

    client.put_object(Bucket=settings.s3_bucket, Key=key, Body=body, ContentType="text/plain")

    listed = client.list_objects_v2(Bucket=settings.s3_bucket, Prefix=prefix)
    assert [item["Key"] for item in listed["Contents"]] == [key]
    read_back = client.get_object(Bucket=settings.s3_bucket, Key=key)
    assert read_back["Body"].read() == body
    assert read_back["ContentType"] == "text/plain"

    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": settings.s3_bucket, "Key": key}, ExpiresIn=60
    )
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == body

    client.delete_object(Bucket=settings.s3_bucket, Key=key)


def test_a_wrong_secret_key_is_refused(settings: S3Settings) -> None:
    wrong = S3Settings(s3_secret_key=SecretStr("not-the-secret-key"))
    with pytest.raises(ClientError) as refused:
        s3_client(wrong, attempts=1).list_objects_v2(Bucket=settings.s3_bucket)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_anonymous_request_is_refused(settings: S3Settings) -> None:
    response = httpx.get(f"{settings.s3_endpoint_url}/{settings.s3_bucket}?list-type=2")
    assert response.status_code == 403
