"""Source images for the fault tests: a few drawn once, reused as many files as a batch needs.

Images with equal bytes are still distinct images to pixelmill (each its own id, source
object and results), and drawing a hundred distinct ones would cost seconds per test.
"""

import functools
import json
from collections.abc import Mapping, Sequence

from tests.e2e import images
from tests.e2e.images import JPEG_TYPE

DISTINCT = 8

# Two variants from one decode, in two formats: name -> (spec, file extension).
VARIANTS: Mapping[str, tuple[dict[str, object], str]] = {
    "small": ({"name": "small", "width": 160, "format": "jpg"}, "jpg"),
    "large": ({"name": "large", "width": 640, "format": "webp"}, "webp"),
}
EXTENSIONS = {name: ext for name, (_, ext) in VARIANTS.items()}
SPECS = [spec for spec, _ in VARIANTS.values()]


def variants_field() -> dict[str, str]:
    return {"variants": json.dumps(SPECS)}


@functools.cache
def _drawn(width: int, height: int) -> tuple[bytes, ...]:
    return tuple(images.jpeg(width, height, seed=seed) for seed in range(1, DISTINCT + 1))


def batch(
    prefix: str, count: int, width: int = 1024, height: int = 768
) -> Sequence[tuple[str, bytes, str]]:
    """`count` JPEG files as (name, bytes, content type), for `Api.submit`."""
    drawn = _drawn(width, height)
    return [(f"{prefix}-{i}.jpg", drawn[i % len(drawn)], JPEG_TYPE) for i in range(count)]
