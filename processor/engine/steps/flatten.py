from processor.engine.context import Context


def flatten(ctx: Context) -> None:
    """Lay a transparent picture on the background for formats without alpha."""
    image = ctx.need_image()
    if ctx.need_output_format().has_alpha or not image.hasalpha():
        return
    ctx.image = image.flatten(background=list(ctx.need_variant().background))
