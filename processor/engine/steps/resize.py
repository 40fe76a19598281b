from processor.engine import frames
from processor.engine.context import Context


def resize(ctx: Context) -> None:
    """Scale from the shared decode to this variant's size; the decode may already be it."""
    image = ctx.need_image()
    target = ctx.need_geometry().resize
    if (image.width, frames.page_height(image)) == target:
        return
    # The decode is already upright: no second EXIF rotation.
    ctx.image = image.thumbnail_image(
        target.width, height=target.height, size="force", no_rotate=True
    )
