from processor.engine import formats
from processor.engine.context import Context


def plan_animation(ctx: Context) -> None:
    """Decode every frame only if some variant is written in a format that animates."""
    info = ctx.need_info()
    if not info.animated:
        return
    ctx.animate = any(
        formats.output_format(variant.format, info.format, info.has_alpha).animates
        for variant in ctx.variants
    )
