from processor.engine.context import Context

# sRGB and alpha: what every output format can hold, and all that to_srgb leaves of colour.
_COLOUR_AND_ALPHA = 4


def drop_extra_bands(ctx: Context) -> None:
    """Drop bands past colour and alpha: spot colours and masks that TIFFs from image
    editors carry, which no output format holds. The first extra band is the alpha, as
    libvips reads it."""
    image = ctx.need_image()
    if image.bands <= _COLOUR_AND_ALPHA:
        return
    ctx.image = image.extract_band(0, n=_COLOUR_AND_ALPHA)
