"""What a download serves: which Range headers it honours, which variant, and why none."""

from uuid import uuid4

import pytest

from common.errors import Conflict
from gateway.images.routes import object_key, single_range
from schemas.tasks import ImageStatus, ImageView, StoredImage


@pytest.mark.parametrize(
    ("header", "sent_to_s3"),
    [
        ("bytes=0-99", "bytes=0-99"),
        ("bytes=100-", "bytes=100-"),
        ("bytes=-10", "bytes=-10"),
        (" bytes=7-7 ", "bytes=7-7"),
        # Past any object: cut down to what S3 takes, still "to the end".
        ("bytes=0-" + "9" * 4301, "bytes=0-9223372036854775807"),
        ("bytes=-99999999999999999999", "bytes=-9223372036854775807"),
        ("bytes=" + "9" * 5000 + "-", "bytes=9223372036854775807-"),
    ],
)
def test_one_range_of_bytes_is_honoured(header: str, sent_to_s3: str) -> None:
    assert single_range(header) == sent_to_s3


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",
        "bytes=-",
        "bytes=9-3",
        "items=0-9",
        "bytes=a-b",
        "bytes=0-9\x00",
        "",
        "bytes=\u0661-\u0662",  # digits, but not ASCII ones
        "bytes=" + "9" * 5000 + "-2",
    ],
)
def test_anything_else_is_ignored(header: str) -> None:
    assert single_range(header) is None


def _stored(status: ImageStatus, output_keys: dict[str, str]) -> StoredImage:
    image = ImageView(
        id=uuid4(),
        task_id=uuid4(),
        name="a.jpg",
        position=0,
        status=status,
        status_id=1,
        format=None,
        attempts=0,
        next_attempt_dt=None,
        end_dt=None,
        error=None,
        outputs=[],
    )
    return StoredImage(
        image=image,
        owner="shop",
        source_kind="s3",
        source_ref="sources/t/i",
        output_keys=output_keys,
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (ImageStatus.QUEUED, "image_not_ready"),
        (ImageStatus.PROCESSING, "image_not_ready"),
        (ImageStatus.FAILED, "image_failed"),
        (ImageStatus.CANCELLED, "image_cancelled"),
    ],
)
def test_an_image_without_variants_says_why(status: ImageStatus, code: str) -> None:
    with pytest.raises(Conflict) as refused:
        object_key(_stored(status, {}), None)
    assert refused.value.code == code


def test_without_a_variant_named_the_first_output_key_is_served() -> None:
    # task_service hands the keys over in the order the variants were asked for (checked
    # end to end in tests/e2e/test_downloads.py); the download takes the first.
    stored = _stored(ImageStatus.DONE, {"zeta": "results/z.jpg", "alpha": "results/a.webp"})
    assert object_key(stored, None) == "results/z.jpg"
