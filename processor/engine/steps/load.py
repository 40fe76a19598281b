import pyvips

from processor.engine import frames, geometry
from processor.engine.context import Context, StepOrderError
from processor.engine.models import SIDEWAYS_ORIENTATIONS, Size
from schemas.images import SourceFormat


def load(ctx: Context) -> None:
    """Decode once, straight to the planned size.

    libvips' thumbnail turns the picture upright by its EXIF orientation, converts CMYK to
    sRGB (other RGB profiles are left to `to_srgb`), and resizes with premultiplied alpha.
    Where the format allows, the decoder itself shrinks first: JPEG by DCT scaling (chosen
    here, see `geometry.jpeg_shrink`), WebP and HEIF by scaled decoding, SVG at size.
    """
    if ctx.decode_size is None:
        raise StepOrderError("load needs plan_decode first")
    info = ctx.need_info()
    target = ctx.decode_size
    # fail_on=error makes a truncated file an error rather than a grey-filled picture.
    if info.format is SourceFormat.JPEG:
        decoded = pyvips.Image.new_from_buffer(
            ctx.data,
            "",
            shrink=geometry.jpeg_shrink(info.size, target),
            access="sequential",
            fail_on="error",
        )
        ctx.image = decoded.thumbnail_image(target.width, height=target.height, size="force")
        return
    # thumbnail would turn a strip of frames upright as one picture, shuffling them: an
    # animation is loaded as stored and each frame is turned on its own.
    turn_frames = ctx.animate and info.orientation != 1
    if turn_frames and info.orientation in SIDEWAYS_ORIENTATIONS:
        target = Size(target.height, target.width)
    image = pyvips.Image.thumbnail_buffer(
        ctx.data,
        target.width,
        height=target.height,
        size="force",
        no_rotate=turn_frames,
        # thumbnail_buffer does not pass its own fail_on argument on to the loader.
        option_string="fail_on=error,n=-1" if ctx.animate else "fail_on=error",
    )
    ctx.image = frames.map_frames(image, pyvips.Image.autorot) if turn_frames else image
