from processor.engine.context import Context
from processor.engine.errors import TooManyPixels


def check_animation_pixels(ctx: Context) -> None:
    if not ctx.animate:
        return
    info = ctx.need_info()
    pixels, limit = info.width * info.height * info.frames, ctx.limits.max_pixels
    if pixels > limit:
        raise TooManyPixels(
            f"{info.frames} frames of {info.width} x {info.height} are "
            f"{pixels / 1e6:.1f} megapixels, the limit is {limit / 1e6:.1f}"
        )
