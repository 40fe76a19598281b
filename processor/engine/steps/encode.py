import pyvips

from processor.engine import formats, frames
from processor.engine.context import Context
from processor.engine.errors import InvalidParameter
from processor.engine.models import Output
from schemas.images import OutputFormat

# Written files carry no EXIF, XMP, IPTC or ICC: pixels are sRGB, which is what an untagged
# web image means, and the profile left by a colour conversion can be large (the fallback
# CMYK one is close to 1 MB).
_KEEP_NOTHING = pyvips.enums.ForeignKeep.NONE


def encode(ctx: Context) -> None:
    image = ctx.need_image()
    output_format = ctx.need_output_format()
    variant = ctx.need_variant()
    height = frames.page_height(image)
    max_side = formats.ENCODER_MAX_SIDE.get(output_format)
    if max_side is not None and max(image.width, height) > max_side:
        raise InvalidParameter(
            f"variant {variant.name}: {output_format} cannot hold {image.width} x {height}, "
            f"at most {max_side} pixels a side"
        )
    quality = variant.quality or formats.DEFAULT_QUALITY.get(output_format)
    ctx.output = Output(
        variant=variant.name,
        format=output_format,
        data=_save(image, output_format, quality),
        width=image.width,
        height=height,
        frames=frames.frame_count(image),
    )


def _save(image: pyvips.Image, output_format: OutputFormat, quality: int | None) -> bytes:
    data: bytes
    match output_format:
        case OutputFormat.JPG:
            data = image.jpegsave_buffer(Q=quality, keep=_KEEP_NOTHING)
        case OutputFormat.WEBP:
            data = image.webpsave_buffer(Q=quality, keep=_KEEP_NOTHING)
        case OutputFormat.AVIF:
            data = image.heifsave_buffer(Q=quality, compression="av1", keep=_KEEP_NOTHING)
        case OutputFormat.PNG:
            data = image.pngsave_buffer(keep=_KEEP_NOTHING)
        case OutputFormat.GIF:
            data = image.gifsave_buffer(keep=_KEEP_NOTHING)
    return data
