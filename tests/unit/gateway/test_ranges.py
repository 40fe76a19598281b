"""Which Range headers a download honours; the rest get the whole image."""

import pytest

from gateway.images.routes import single_range


@pytest.mark.parametrize(
    ("header", "sent_to_s3"),
    [
        ("bytes=0-99", "bytes=0-99"),
        ("bytes=100-", "bytes=100-"),
        ("bytes=-10", "bytes=-10"),
        (" bytes=7-7 ", "bytes=7-7"),
    ],
)
def test_one_range_of_bytes_is_honoured(header: str, sent_to_s3: str) -> None:
    assert single_range(header) == sent_to_s3


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,5-6", "bytes=-", "bytes=9-3", "items=0-9", "bytes=a-b", "bytes=0-9\x00", ""],
)
def test_anything_else_is_ignored(header: str) -> None:
    assert single_range(header) is None
