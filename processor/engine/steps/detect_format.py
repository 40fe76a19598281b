from processor.engine import formats
from processor.engine.context import Context
from processor.engine.errors import UnsupportedFormat
from processor.engine.vips import has_loader
from schemas.images import SourceFormat


def detect_format(ctx: Context) -> None:
    found = formats.sniff(ctx.data)
    if found is None:
        raise UnsupportedFormat("the content is not an image in a supported format")
    if (found is SourceFormat.SVG and not ctx.limits.allow_svg) or (
        found is SourceFormat.PDF and not ctx.limits.allow_pdf
    ):
        raise UnsupportedFormat(f"{found} sources are not accepted")
    if not has_loader(formats.LOADERS[found][0]):
        raise UnsupportedFormat(f"{found} sources cannot be read by this build")
    ctx.format = found
