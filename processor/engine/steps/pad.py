import pyvips

from processor.engine import frames
from processor.engine.context import Context


def pad(ctx: Context) -> None:
    """Centre `contain`'s picture on a canvas of the box size in the background colour."""
    canvas = ctx.need_geometry().canvas
    image = ctx.need_image()
    if canvas is None or (image.width, frames.page_height(image)) == canvas:
        return
    background = list(ctx.need_variant().background)
    if image.hasalpha():
        background.append(255)

    def extend(frame: pyvips.Image) -> pyvips.Image:
        return frame.gravity(
            "centre", canvas.width, canvas.height, extend="background", background=background
        )

    ctx.image = frames.map_frames(image, extend)
