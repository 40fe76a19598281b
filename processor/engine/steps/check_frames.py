from processor.engine.context import Context
from processor.engine.errors import TooManyFrames


def check_frames(ctx: Context) -> None:
    frames, limit = ctx.need_info().frames, ctx.limits.max_frames
    if frames > limit:
        raise TooManyFrames(f"the animation has {frames} frames, the limit is {limit}")
