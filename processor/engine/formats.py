"""Formats: recognising a source by its content, and the per-format output rules.

A source's format is decided here from its first bytes, never from a name or a media type,
and libvips must then agree (see `steps/read_header.py`).

When a variant names no format the source's is kept if it is one we write. HEIC, TIFF, SVG
and PDF are not web formats: they become PNG when they carry transparency, JPEG otherwise.
"""

from schemas.images import OutputFormat, SourceFormat

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
# An SVG may open with an XML declaration, a doctype and comments before its root element.
_SVG_SNIFF_BYTES = 4096

# libvips loader nicknames accepted per format. Ultra HDR JPEGs go to uhdrload.
LOADERS: dict[SourceFormat, tuple[str, ...]] = {
    SourceFormat.JPEG: ("jpegload", "uhdrload"),
    SourceFormat.PNG: ("pngload",),
    SourceFormat.WEBP: ("webpload",),
    SourceFormat.GIF: ("gifload",),
    SourceFormat.TIFF: ("tiffload",),
    SourceFormat.HEIC: ("heifload",),
    SourceFormat.AVIF: ("heifload",),
    SourceFormat.SVG: ("svgload",),
    SourceFormat.PDF: ("pdfload",),
}

_KEPT_ON_OUTPUT: dict[SourceFormat, OutputFormat] = {
    SourceFormat.JPEG: OutputFormat.JPG,
    SourceFormat.PNG: OutputFormat.PNG,
    SourceFormat.WEBP: OutputFormat.WEBP,
    SourceFormat.GIF: OutputFormat.GIF,
    SourceFormat.AVIF: OutputFormat.AVIF,
}

DEFAULT_QUALITY: dict[OutputFormat, int] = {
    OutputFormat.JPG: 85,
    OutputFormat.WEBP: 80,
    OutputFormat.AVIF: 60,
}

# The largest frame side each encoder can write, as the bundled libraries have it (libjpeg
# stops at 65,500, libheif's AV1 encoder at 16,384); PNG has no practical limit.
ENCODER_MAX_SIDE: dict[OutputFormat, int] = {
    OutputFormat.JPG: 65_500,
    OutputFormat.WEBP: 16_383,
    OutputFormat.GIF: 65_535,
    OutputFormat.AVIF: 16_384,
}


def sniff(data: bytes) -> SourceFormat | None:
    if data.startswith(b"\xff\xd8\xff"):
        return SourceFormat.JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return SourceFormat.PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return SourceFormat.GIF
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return SourceFormat.WEBP
    if data.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return SourceFormat.TIFF
    if data[4:8] == b"ftyp":
        return _sniff_heif(data)
    if data.startswith(b"%PDF-"):
        return SourceFormat.PDF
    if _looks_like_svg(data):
        return SourceFormat.SVG
    return None


def output_format(
    requested: OutputFormat | None, source: SourceFormat, has_alpha: bool
) -> OutputFormat:
    if requested is not None:
        return requested
    kept = _KEPT_ON_OUTPUT.get(source)
    if kept is not None:
        return kept
    return OutputFormat.PNG if has_alpha else OutputFormat.JPG


def _sniff_heif(data: bytes) -> SourceFormat | None:
    box_size = int.from_bytes(data[:4], "big")
    major = data[8:12]
    # Compatible brands follow the major brand and its 4-byte minor version.
    compatible = {data[i : i + 4] for i in range(16, min(box_size, len(data)) - 3, 4)}
    brands = compatible | {major}
    if brands & _AVIF_BRANDS:
        return SourceFormat.AVIF
    if brands & _HEIF_BRANDS:
        return SourceFormat.HEIC
    return None


def _looks_like_svg(data: bytes) -> bool:
    head = data[:_SVG_SNIFF_BYTES].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and b"<svg" in head.lower()
