import pyvips

from processor.engine import frames
from processor.engine.context import Context
from schemas.images import Gravity


def crop(ctx: Context) -> None:
    """Cut `cover`'s box out of the resized picture, centred or around what draws the eye."""
    box = ctx.need_geometry().crop
    if box is None:
        return
    image = ctx.need_image()
    smart = ctx.need_variant().gravity is Gravity.SMART
    # Smart crop on animations would choose a different region per frame, so they centre.
    if smart and frames.frame_count(image) == 1:
        # smartcrop reads the picture twice, which a streamed decode does not allow.
        ctx.image = image.copy_memory().smartcrop(box.width, box.height, interesting="attention")
        return

    def centre(frame: pyvips.Image) -> pyvips.Image:
        left = (frame.width - box.width) // 2
        top = (frame.height - box.height) // 2
        return frame.crop(left, top, box.width, box.height)

    ctx.image = frames.map_frames(image, centre)
