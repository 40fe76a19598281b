from processor.engine.context import Context
from processor.engine.errors import TooManyPixels


def check_pixels(ctx: Context) -> None:
    info = ctx.need_info()
    pixels, limit = info.width * info.height, ctx.limits.max_pixels
    if pixels > limit:
        raise TooManyPixels(
            f"{info.width} x {info.height} is {pixels / 1e6:.1f} megapixels, "
            f"the limit is {limit / 1e6:.1f}"
        )
    samples = pixels * info.bands
    if samples > ctx.limits.max_samples:
        raise TooManyPixels(
            f"{info.width} x {info.height} in {info.bands} channels is {samples / 1e6:.1f} "
            f"million samples, the limit is {ctx.limits.max_samples / 1e6:.1f}"
        )
