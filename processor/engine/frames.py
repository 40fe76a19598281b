"""Animated images: libvips holds the frames stacked vertically, `page-height` apart."""

from collections.abc import Callable

import pyvips


def page_height(image: pyvips.Image) -> int:
    if image.get_typeof("page-height"):
        height: int = image.get("page-height")
        # A page height that does not divide the image is meaningless; libvips does the same.
        if 0 < height <= image.height and image.height % height == 0:
            return height
    return int(image.height)


def frame_count(image: pyvips.Image) -> int:
    return int(image.height) // page_height(image)


def first_frame(image: pyvips.Image) -> pyvips.Image:
    return image.crop(0, 0, image.width, page_height(image))


def map_frames(
    image: pyvips.Image, transform: Callable[[pyvips.Image], pyvips.Image]
) -> pyvips.Image:
    """Apply `transform` to each frame of `image` and stack the results back."""
    height = page_height(image)
    if height == image.height:
        return transform(image)
    frames = [
        transform(image.crop(0, top, image.width, height)) for top in range(0, image.height, height)
    ]
    # arrayjoin keeps the first frame's metadata (delays, loop), only page-height changes.
    joined = pyvips.Image.arrayjoin(frames, across=1).copy()
    joined.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    return joined
