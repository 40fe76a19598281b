from processor.engine import formats, geometry
from processor.engine.context import Context
from processor.engine.errors import TooManyPixels


def check_output_pixels(ctx: Context) -> None:
    """No variant makes more pixels than the engine would read: the largest image on its way
    (the scaled frame, which `cover` then crops, or the padded canvas), times its frames
    when it keeps an animation, is held to the same limit. Enlarging a small file to the
    largest sizes would otherwise make minutes of work and gigabytes out of a few kilobytes.
    All the variants together are held to a budget of their own, so that sixteen of them
    cannot make sixteen times that work."""
    info = ctx.need_info()
    limit = ctx.limits.max_pixels
    total = 0
    for variant in ctx.variants:
        plan = geometry.plan(info.size, variant)
        stages = [stage for stage in (plan.resize, plan.crop, plan.canvas) if stage is not None]
        size = max(stages, key=lambda stage: stage.width * stage.height)
        output_format = formats.output_format(variant.format, info.format, info.has_alpha)
        frames = info.frames if ctx.animate and output_format.animates else 1
        pixels = size.width * size.height * frames
        if pixels > limit:
            shape = f"{frames} frames of " if frames > 1 else ""
            raise TooManyPixels(
                f"variant {variant.name}: {shape}{size.width} x {size.height} would be "
                f"{pixels / 1e6:.1f} megapixels, the limit is {limit / 1e6:.1f}"
            )
        total += pixels
    if total > ctx.limits.max_total_output_pixels:
        raise TooManyPixels(
            f"the {len(ctx.variants)} variants together would be {total / 1e6:.1f} "
            f"megapixels, the limit is {ctx.limits.max_total_output_pixels / 1e6:.1f}"
        )
