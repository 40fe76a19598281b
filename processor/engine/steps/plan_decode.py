from processor.engine import geometry
from processor.engine.context import Context


def plan_decode(ctx: Context) -> None:
    source = ctx.need_info().size
    plans = [geometry.plan(source, variant) for variant in ctx.variants]
    ctx.decode_size = geometry.decode_size(source, plans)
