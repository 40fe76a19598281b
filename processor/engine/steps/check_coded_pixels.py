from processor.engine import heif_boxes
from processor.engine.context import Context
from processor.engine.errors import TooManyPixels
from schemas.images import SourceFormat

_HEIF = (SourceFormat.HEIC, SourceFormat.AVIF)


def check_coded_pixels(ctx: Context) -> None:
    """A HEIF header tells the size shown, not what libheif decodes to get there: the whole
    coded image under a crop, every tile of a grid each time it is named. Both are held to
    the pixel limit from the file's boxes."""
    if ctx.need_format() not in _HEIF:
        return
    pixels, limit = heif_boxes.decoded_pixels(ctx.data), ctx.limits.max_pixels
    if pixels > limit:
        amount = (
            "more than can be bounded"
            if pixels == heif_boxes.UNBOUNDED
            else (f"{pixels / 1e6:.1f} megapixels")
        )
        raise TooManyPixels(
            f"decoding this image takes {amount} (the limit is {limit / 1e6:.1f}), "
            "though it is shown smaller"
        )
