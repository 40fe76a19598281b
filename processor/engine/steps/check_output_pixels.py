from processor.engine import formats, geometry
from processor.engine.context import Context
from processor.engine.errors import TooManyPixels


def check_output_pixels(ctx: Context) -> None:
    """No variant writes more pixels than the engine would read: its size, times its frames
    when it keeps an animation, is held to the same limit. Enlarging a small file to the
    largest sizes would otherwise make minutes of work out of a few kilobytes."""
    info = ctx.need_info()
    limit = ctx.limits.max_pixels
    for variant in ctx.variants:
        plan = geometry.plan(info.size, variant)
        size = plan.canvas or plan.crop or plan.resize
        output_format = formats.output_format(variant.format, info.format, info.has_alpha)
        frames = info.frames if ctx.animate and output_format.animates else 1
        pixels = size.width * size.height * frames
        if pixels > limit:
            shape = f"{frames} frames of " if frames > 1 else ""
            raise TooManyPixels(
                f"variant {variant.name}: {shape}{size.width} x {size.height} would be "
                f"{pixels / 1e6:.1f} megapixels, the limit is {limit / 1e6:.1f}"
            )
