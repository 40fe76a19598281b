from processor.engine import formats
from processor.engine.context import Context


def choose_format(ctx: Context) -> None:
    info = ctx.need_info()
    ctx.output_format = formats.output_format(
        ctx.need_variant().format, info.format, info.has_alpha
    )
