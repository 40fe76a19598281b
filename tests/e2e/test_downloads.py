"""Downloads behave like a static file server's: ranges, HEAD and conditional requests."""

import json

import httpx

from tests.e2e import images
from tests.e2e.api import Api, Storage, image_path
from tests.e2e.images import JPEG_TYPE


def test_a_variant_is_served_whole_in_ranges_by_head_and_not_again_while_unchanged(
    api: Api, http: httpx.Client
) -> None:
    source = ("ranges.jpg", images.jpeg(640, 480, seed=71), JPEG_TYPE)
    view = api.wait_finished(api.accepted(api.submit([source], {"width": "300"}))["id"])
    path = image_path(view["images"][0]["id"])

    whole = http.get(path)
    assert whole.status_code == 200
    assert whole.headers["accept-ranges"] == "bytes"
    size, etag = len(whole.content), whole.headers["etag"]
    assert size > 1000 and etag

    first = http.get(path, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.content == whole.content[:100]

    rest = http.get(path, headers={"Range": "bytes=100-"})
    assert rest.status_code == 206
    assert first.content + rest.content == whole.content

    tail = http.get(path, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert tail.content == whole.content[-10:]

    # Several ranges are not served piecewise; the whole image is, as HTTP allows.
    several = http.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200
    assert several.content == whole.content

    past_the_end = http.get(path, headers={"Range": f"bytes={size}-"})
    assert past_the_end.status_code == 416
    assert past_the_end.json()["error"]["code"] == "range_not_satisfiable"
    assert past_the_end.headers["content-range"] == f"bytes */{size}"

    head = http.head(path)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["content-type"] == "image/jpeg"
    assert head.headers["etag"] == etag

    unchanged = http.get(path, headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    assert unchanged.headers["cache-control"] == whole.headers["cache-control"]
    assert http.head(path, headers={"If-None-Match": etag}).status_code == 304
    # If-None-Match compares weakly: the weak form of the current tag matches too.
    assert http.get(path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304

    stale = http.get(path, headers={"If-None-Match": '"an-older-version"'})
    assert stale.status_code == 200
    assert stale.content == whole.content


def test_without_a_variant_named_the_first_one_asked_for_is_served(
    api: Api, http: httpx.Client
) -> None:
    variants = [
        {"name": "zeta", "width": 120, "format": "jpg"},
        {"name": "alpha", "width": 60, "format": "webp"},
    ]
    source = ("order.jpg", images.jpeg(320, 240, seed=73), JPEG_TYPE)
    fields = {"variants": json.dumps(variants)}
    view = api.wait_finished(api.accepted(api.submit([source], fields))["id"])

    served = http.get(image_path(view["images"][0]["id"]))

    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert images.decode(served.content).width == 120


def test_an_output_gone_from_storage_is_a_404_not_a_503(
    api: Api, http: httpx.Client, storage: Storage
) -> None:
    source = ("removed.jpg", images.jpeg(320, 240, seed=72), JPEG_TYPE)
    view = api.wait_finished(api.accepted(api.submit([source], {"width": "100"}))["id"])
    image = view["images"][0]
    (key,) = storage.keys(f"results/{view['id']}/{image['id']}/")
    storage.client.delete_object(Bucket=storage.bucket, Key=key)

    gone = http.get(image_path(image["id"]))

    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"
    assert http.head(image_path(image["id"])).status_code == 404


def test_head_answers_like_get_for_an_image_that_is_not_there(http: httpx.Client) -> None:
    missing = http.head(image_path("00000000-0000-4000-8000-000000000000"))
    assert missing.status_code == 404
    assert missing.content == b""
