import pyvips

from processor.engine.context import Context, StepOrderError


def load(ctx: Context) -> None:
    """Decode once, straight to the planned size.

    libvips' thumbnail shrinks while decoding where the format allows it (JPEG DCT scaling,
    WebP and HEIF scaled decode, SVG rendering at size), turns the picture upright by its EXIF
    orientation, and converts an embedded colour profile (or CMYK) to sRGB.
    """
    if ctx.decode_size is None:
        raise StepOrderError("load needs plan_decode first")
    # fail_on=error makes a truncated file an error rather than a grey-filled picture.
    # thumbnail_buffer does not pass its own fail_on argument on to the loader.
    options = "fail_on=error,n=-1" if ctx.animate else "fail_on=error"
    ctx.image = pyvips.Image.thumbnail_buffer(
        ctx.data,
        ctx.decode_size.width,
        height=ctx.decode_size.height,
        size="force",
        option_string=options,
    )
