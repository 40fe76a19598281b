"""Whether an embedded ICC profile is sRGB, read from its colorants.

Decoders hand RGB pixels over in their profile's space, and outputs go out without a
profile (sRGB by the web's rules), so any other RGB profile must be converted. sRGB itself
is the common case and converting it to itself costs as much as the rest of the work, so it
is told apart first. The primaries decide: sRGB and Display P3 share their tone curves.
"""

import struct

# sRGB's primaries as profiles state them (XYZ adapted to D50), and how far a profile may
# round them and still be sRGB; Display P3's red is 0.08 away, Adobe RGB's green 0.1.
_SRGB_COLORANTS = {
    b"rXYZ": (0.4361, 0.2225, 0.0139),
    b"gXYZ": (0.3851, 0.7169, 0.0971),
    b"bXYZ": (0.1431, 0.0606, 0.7141),
}
_TOLERANCE = 0.005
_HEADER_BYTES = 128
_MAX_TAGS = 100


def needs_conversion(profile: bytes) -> bool:
    """An RGB profile whose primaries are not sRGB's. Grey and CMYK profiles are left to
    the decoders, and a profile that cannot be read is treated as absent."""
    if profile[16:20] != b"RGB ":
        return False
    try:
        colorants = _colorants(profile)
    except (struct.error, KeyError):
        return False
    return any(
        abs(value - srgb) > _TOLERANCE
        for tag, srgb_xyz in _SRGB_COLORANTS.items()
        for value, srgb in zip(colorants[tag], srgb_xyz, strict=True)
    )


def _colorants(profile: bytes) -> dict[bytes, tuple[float, float, float]]:
    (count,) = struct.unpack_from(">I", profile, _HEADER_BYTES)
    colorants = {}
    for index in range(min(count, _MAX_TAGS)):
        tag, offset, _ = struct.unpack_from(">4sII", profile, _HEADER_BYTES + 4 + 12 * index)
        if tag in _SRGB_COLORANTS and profile[offset : offset + 4] == b"XYZ ":
            x, y, z = struct.unpack_from(">iii", profile, offset + 8)
            colorants[tag] = (x / 65536, y / 65536, z / 65536)
    return colorants
