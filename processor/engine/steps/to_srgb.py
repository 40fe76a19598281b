from processor.engine import icc
from processor.engine.context import Context

_PROFILE = "icc-profile-data"


def to_srgb(ctx: Context) -> None:
    """Bring the picture to 8-bit sRGB: pixels in another RGB profile's space (Display P3
    from phones, Adobe RGB from cameras) through that profile, then grey, 16-bit and other
    colour spaces the decode left. CMYK the decode has converted already."""
    image = ctx.need_image()
    if image.get_typeof(_PROFILE) and icc.needs_conversion(image.get(_PROFILE)):
        image = image.icc_transform("srgb", embedded=True)
    if image.interpretation != "srgb" or image.format != "uchar":
        image = image.colourspace("srgb")
    ctx.image = image
