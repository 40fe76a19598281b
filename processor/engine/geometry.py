"""Where every pixel goes: the sizes a variant asks of a source, as plain arithmetic.

Sizes are computed with fractions so that the side that limits a fit lands exactly on the
requested number, and are then passed to libvips as exact targets.
"""

from dataclasses import dataclass
from fractions import Fraction

from processor.engine.models import Size
from processor.engine.variant import Variant
from schemas.images import Fit


@dataclass(frozen=True, slots=True)
class Geometry:
    resize: Size  # the whole frame scaled to this
    crop: Size | None = None  # cover: then cut to this box
    canvas: Size | None = None  # contain: then padded to this box


def plan(source: Size, variant: Variant) -> Geometry:
    width, height = variant.width, variant.height
    if width is None and height is None:
        return Geometry(resize=source)
    if width is None or height is None or variant.fit is Fit.INSIDE:
        return Geometry(resize=_inside(source, width, height, variant.enlarge))
    if variant.fit is Fit.FILL:
        return Geometry(resize=_fill(source, Size(width, height), variant.enlarge))
    if variant.fit is Fit.COVER:
        return _cover(source, Size(width, height), variant.enlarge)
    return Geometry(
        resize=_inside(source, width, height, variant.enlarge), canvas=Size(width, height)
    )


def decode_size(source: Size, geometries: list[Geometry]) -> Size:
    """The one size to decode at so that every variant can be made from it.

    Variants that all share a size are decoded straight to it, enlargement included.
    Otherwise the decode is as large as the most demanding variant, by its larger axis
    scale, and never above the source: enlarging is left to that variant alone.
    """
    targets = {geometry.resize for geometry in geometries}
    if len(targets) == 1:
        return targets.pop()
    scale = max(
        max(Fraction(t.width, source.width), Fraction(t.height, source.height)) for t in targets
    )
    return _scaled(source, min(scale, Fraction(1)))


def _inside(source: Size, width: int | None, height: int | None, enlarge: bool) -> Size:
    scales = []
    if width is not None:
        scales.append(Fraction(width, source.width))
    if height is not None:
        scales.append(Fraction(height, source.height))
    scale = min(scales)
    return _scaled(source, scale if enlarge else min(scale, Fraction(1)))


def _fill(source: Size, box: Size, enlarge: bool) -> Size:
    if enlarge:
        return box
    # Without enlargement each axis stops at the source's own size.
    return Size(min(box.width, source.width), min(box.height, source.height))


def _cover(source: Size, box: Size, enlarge: bool) -> Geometry:
    if not enlarge:
        # A box larger than the source shrinks, keeping its aspect, until it fits: the
        # result is smaller than asked, but neither upscaled nor of the wrong shape.
        shrink = min(
            Fraction(1), Fraction(source.width, box.width), Fraction(source.height, box.height)
        )
        box = Size(max(1, round(box.width * shrink)), max(1, round(box.height * shrink)))
    scale = max(Fraction(box.width, source.width), Fraction(box.height, source.height))
    return Geometry(resize=_scaled(source, scale), crop=box)


def _scaled(source: Size, scale: Fraction) -> Size:
    return Size(max(1, round(source.width * scale)), max(1, round(source.height * scale)))


def jpeg_shrink(source: Size, target: Size) -> int:
    """The largest JPEG decode shrink (libjpeg's DCT scaling) that still covers `target`.

    Like sharp's and imgproxy's shrink-on-load, this goes as far as the target allows, while
    libvips' own thumbnail keeps a further factor of two for its resampler. Decoding at half
    the size costs a quarter less; the result differs by well under one level on average.
    """
    scale = max(Fraction(target.width, source.width), Fraction(target.height, source.height))
    return next(shrink for shrink in (8, 4, 2, 1) if shrink * scale <= 1 or shrink == 1)
