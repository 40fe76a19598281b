from processor.engine.context import Context
from processor.engine.errors import FileTooLarge


def check_file_size(ctx: Context) -> None:
    size, limit = len(ctx.data), ctx.limits.max_bytes
    if size > limit:
        raise FileTooLarge(f"the file has {size} bytes, the limit is {limit}")
