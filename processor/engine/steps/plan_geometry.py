from processor.engine import geometry
from processor.engine.context import Context


def plan_geometry(ctx: Context) -> None:
    ctx.geometry = geometry.plan(ctx.need_info().size, ctx.need_variant())
