from processor.engine.context import Context


def to_srgb(ctx: Context) -> None:
    """Bring grey, 16-bit and other colour spaces left by the decode to 8-bit sRGB."""
    image = ctx.need_image()
    if image.interpretation == "srgb" and image.format == "uchar":
        return
    ctx.image = image.colourspace("srgb")
