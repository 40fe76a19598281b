from processor.engine import frames
from processor.engine.context import Context


def take_first_frame(ctx: Context) -> None:
    image = ctx.need_image()
    if ctx.need_output_format().animates or frames.frame_count(image) == 1:
        return
    ctx.image = frames.first_frame(image)
