"""A batch from submission to results in S3, and images that fail while the rest goes on."""

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pyvips

from tests.e2e import images
from tests.e2e.api import Api, Storage, image_path
from tests.e2e.conftest import S3_PUBLIC_ENDPOINT_URL
from tests.e2e.images import JPEG_TYPE, PNG_TYPE, ImageServer

VARIANTS = [
    {"name": "thumb", "width": 150, "height": 120, "fit": "cover", "format": "jpg"},
    {"name": "card", "width": 400, "height": 400, "fit": "inside", "format": "webp"},
    {"name": "zoom", "width": 1000, "format": "png"},
]
# Variant name: (extension and view format, Content-Type, libvips loader prefix).
ENCODINGS = {
    "thumb": ("jpg", "image/jpeg", "jpegload"),
    "card": ("webp", "image/webp", "webpload"),
    "zoom": ("png", "image/png", "pngload"),
}
# Source sizes whose scaled sides are whole numbers, so the expected sizes are exact.
SIZES = [(800, 600), (1200, 900), (600, 800), (1600, 1200)]


def expected_size(variant: str, width: int, height: int) -> tuple[int, int]:
    """What each variant makes of a `width` x `height` source (no enlargement)."""
    if variant == "thumb":  # cover: exactly the box
        return 150, 120
    # card: inside 400x400; zoom: 1000 wide at most.
    scale = min(400 / width, 400 / height, 1.0) if variant == "card" else min(1000 / width, 1.0)
    return round(width * scale), round(height * scale)


@dataclass(frozen=True)
class Source:
    name: str
    data: bytes
    content_type: str
    width: int
    height: int


def make_source(index: int, prefix: str) -> Source:
    width, height = SIZES[index % len(SIZES)]
    # PNGs for the smaller sizes only: every source stays well under the gateway's 2 MiB.
    if index % 3 == 2 and width * height <= 800 * 600:
        return Source(
            f"{prefix}-{index}.png", images.png(width, height, index), PNG_TYPE, width, height
        )
    return Source(
        f"{prefix}-{index}.jpg", images.jpeg(width, height, index), JPEG_TYPE, width, height
    )


def test_a_batch_of_files_and_urls_with_three_variants_ends_done_with_every_output_in_s3(
    api: Api, http: httpx.Client, storage: Storage, image_server: ImageServer
) -> None:
    files = [make_source(i, "upload") for i in range(20)]
    served = [make_source(i, "served") for i in range(20, 25)]
    run = uuid.uuid4().hex
    urls = [image_server.add(f"/pipeline/{run}/{s.name}", s.data, s.content_type) for s in served]
    sources = files + served

    response = api.submit(
        [(s.name, s.data, s.content_type) for s in files],
        {"url": urls, "variants": json.dumps(VARIANTS)},
    )
    accepted = api.accepted(response)
    task_id = accepted["id"]
    assert response.headers["location"] == f"/api/v1/task/{task_id}"
    assert accepted["status"] in {"queued", "processing"}
    assert accepted["counts"]["total"] == 25
    assert [i["position"] for i in accepted["images"]] == list(range(25))
    assert [i["name"] for i in accepted["images"]] == [s.name for s in files] + urls
    assert [v["name"] for v in accepted["variants"]] == ["thumb", "card", "zoom"]

    view = api.wait_finished(task_id)

    assert view["status"] == "done"
    assert view["common_status_id"] == 2
    assert view["counts"] == {
        "total": 25,
        "queued": 0,
        "processing": 0,
        "retrying": 0,
        "done": 25,
        "failed": 0,
        "cancelled": 0,
    }
    expected_keys = {
        f"results/{task_id}/{image['id']}/{name}.{ext}"
        for image in view["images"]
        for name, (ext, _, _) in ENCODINGS.items()
    }
    assert storage.keys(f"results/{task_id}/") == expected_keys

    for image, source in zip(view["images"], sources, strict=True):
        assert image["status"] == "done", image
        assert image["status_id"] == 2
        assert image["error"] is None
        assert image["end_dt"] is not None
        assert image["attempts"] == 1
        assert image["format"] == "jpg"  # the first variant's
        outputs = []
        for name, (ext, content_type, loader) in ENCODINGS.items():
            key = f"results/{task_id}/{image['id']}/{name}.{ext}"
            data, stored_type = storage.get(key)
            assert stored_type == content_type, key
            decoded = images.decode(data)
            assert images.loader(decoded).startswith(loader), key
            assert (decoded.width, decoded.height) == expected_size(
                name, source.width, source.height
            ), f"{key} from a {source.width}x{source.height} source"
            outputs.append(
                {
                    "variant": name,
                    "format": ext,
                    "width": decoded.width,
                    "height": decoded.height,
                    "bytes": len(data),
                    "url": f"{image_path(image['id'])}?variant={name}",
                }
            )
        assert image["outputs"] == outputs

        thumb, _ = storage.get(f"results/{task_id}/{image['id']}/thumb.jpg")
        streamed = http.get(image_path(image["id"]), params={"variant": "thumb"})
        assert streamed.status_code == 200
        assert streamed.headers["content-type"] == "image/jpeg"
        assert streamed.content == thumb

        redirected = http.get(image_path(image["id"]), params={"variant": "thumb", "redirect": "1"})
        assert redirected.status_code == 302
        location = redirected.headers["location"]
        # Signed for the address clients reach S3 by, not the services' own.
        assert urlsplit(location).netloc == urlsplit(S3_PUBLIC_ENDPOINT_URL).netloc
        presigned = httpx.get(location, timeout=30)
        assert presigned.status_code == 200
        assert presigned.content == thumb

    # The source as received, for an uploaded file; a URL source's original is not kept.
    first, last = view["images"][0], view["images"][-1]
    original = http.get(image_path(first["id"]), params={"variant": "original"})
    assert original.status_code == 200
    assert original.content == files[0].data
    assert http.get(image_path(last["id"]), params={"variant": "original"}).status_code == 404

    fetched = [path for path in image_server.requests() if path.startswith(f"/pipeline/{run}/")]
    assert sorted(fetched) == sorted(urlsplit(url).path for url in urls)


def test_a_url_to_a_port_not_on_the_allowlist_fails_url_forbidden_and_the_rest_succeeds(
    api: Api, http: httpx.Client, storage: Storage, image_server: ImageServer
) -> None:
    forbidden_server = ImageServer().start()
    try:
        bait = images.jpeg(800, 600, seed=7)
        forbidden = forbidden_server.add("/secret.jpg", bait, JPEG_TYPE)
        allowed = image_server.add(f"/allowed/{uuid.uuid4().hex}.jpg", bait, JPEG_TYPE)
        files = [(f"ok-{i}.jpg", images.jpeg(800, 600, seed=i), JPEG_TYPE) for i in range(2)]

        accepted = api.accepted(api.submit(files, {"url": [allowed, forbidden], "width": "200"}))
        view = api.wait_finished(accepted["id"])

        assert forbidden_server.requests() == []
    finally:
        forbidden_server.stop()

    assert view["status"] == "partial"
    assert view["common_status_id"] == 3
    assert view["counts"]["done"] == 3
    assert view["counts"]["failed"] == 1
    by_name = {image["name"]: image for image in view["images"]}
    refused = by_name[forbidden]
    assert refused["status"] == "failed"
    assert refused["status_id"] == 3
    assert refused["error"]["code"] == "url_forbidden"
    assert refused["attempts"] == 1
    assert refused["outputs"] == []
    assert storage.keys(f"results/{accepted['id']}/{refused['id']}/") == set()
    for name in [allowed, "ok-0.jpg", "ok-1.jpg"]:
        image = by_name[name]
        assert image["status"] == "done", image
        assert [(o["width"], o["height"]) for o in image["outputs"]] == [(200, 150)]

    failed = http.get(image_path(refused["id"]))
    assert failed.status_code == 409
    assert failed.json()["error"]["code"] == "image_failed"


def test_a_truncated_jpeg_fails_corrupt_image_and_the_rest_succeeds(
    api: Api, storage: Storage
) -> None:
    whole = images.jpeg(800, 600, seed=11)
    truncated = whole[: len(whole) // 2]
    assert truncated.startswith(b"\xff\xd8\xff")  # passes the gateway's content sniffing
    try:
        images.decode(truncated)
    except pyvips.Error:
        pass
    else:
        raise AssertionError("the truncated JPEG decodes; the test would prove nothing")

    files = [
        ("good-0.jpg", images.jpeg(800, 600, seed=12), JPEG_TYPE),
        ("broken.jpg", truncated, JPEG_TYPE),
        ("good-1.png", images.png(600, 800, seed=13), PNG_TYPE),
    ]
    accepted = api.accepted(api.submit(files, {"width": "300", "format": "webp"}))
    view = api.wait_finished(accepted["id"])

    assert view["status"] == "partial"
    assert view["counts"]["done"] == 2
    assert view["counts"]["failed"] == 1
    good_0, broken, good_1 = view["images"]
    assert broken["name"] == "broken.jpg"
    assert broken["status"] == "failed"
    assert broken["error"]["code"] == "corrupt_image"
    assert broken["attempts"] == 1
    assert broken["outputs"] == []
    assert storage.keys(f"results/{accepted['id']}/{broken['id']}/") == set()
    assert [(o["format"], o["width"], o["height"]) for o in good_0["outputs"]] == [
        ("webp", 300, 225)
    ]
    assert [(o["format"], o["width"], o["height"]) for o in good_1["outputs"]] == [
        ("webp", 300, 400)
    ]
