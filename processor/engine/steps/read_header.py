import pyvips

from processor.engine import formats
from processor.engine.context import Context
from processor.engine.errors import UnsupportedFormat
from processor.engine.models import SIDEWAYS_ORIENTATIONS, SourceInfo
from schemas.images import SourceFormat

_ANIMATED_FORMATS = (SourceFormat.GIF, SourceFormat.WEBP)


def read_header(ctx: Context) -> None:
    """Learn the source's size, frames and alpha without decoding its pixels."""
    source_format = ctx.need_format()
    header = pyvips.Image.new_from_buffer(ctx.data, "", access="sequential", fail_on="error")
    loader: str = header.get("vips-loader")
    if not loader.startswith(formats.LOADERS[source_format]):
        raise UnsupportedFormat(f"the content looks like {source_format} but does not load as one")
    width, height = header.width, header.height
    orientation = _orientation(header)
    if orientation in SIDEWAYS_ORIENTATIONS:
        width, height = height, width
    ctx.info = SourceInfo(
        format=source_format,
        width=width,
        height=height,
        frames=_frames(header) if source_format in _ANIMATED_FORMATS else 1,
        has_alpha=bool(header.hasalpha()),
        orientation=orientation if 1 <= orientation <= 8 else 1,
        bands=header.bands,
    )


def _orientation(header: pyvips.Image) -> int:
    return int(header.get("orientation")) if header.get_typeof("orientation") else 1


def _frames(header: pyvips.Image) -> int:
    return int(header.get("n-pages")) if header.get_typeof("n-pages") else 1
