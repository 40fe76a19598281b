from processor.engine.context import Context
from processor.engine.errors import EmptyFile


def reject_empty(ctx: Context) -> None:
    if not ctx.data:
        raise EmptyFile("the file is empty")
