from processor.engine.context import Context
from processor.engine.variant import check_variants as check


def check_variants(ctx: Context) -> None:
    check(ctx.variants, ctx.limits.max_variants)
