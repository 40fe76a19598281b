from processor.engine.context import Context


def share_source(ctx: Context) -> None:
    """Hold the decoded picture in memory when several variants will read it.

    A single variant streams from the decoder to the encoder without it.
    """
    if len(ctx.variants) < 2:
        return
    ctx.image = ctx.need_image().copy_memory()
