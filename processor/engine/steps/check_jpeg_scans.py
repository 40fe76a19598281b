import re
from collections.abc import Iterator

from processor.engine.context import Context
from processor.engine.errors import UnsupportedFormat
from schemas.images import SourceFormat

_SOS, _EOI = 0xDA, 0xD9
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
# Markers without a length: SOI, TEM. Restarts are never matched (see _MARKER).
_STANDALONE = {0xD8, 0x01}
# The next marker as libjpeg finds it: any bytes, 0xFF fill, then a code that is not a
# stuffed zero. Restart markers are passed over with the scan data they sit in. Junk bytes
# between segments only make libjpeg warn, so they must not end the walk here either. One
# 0xFF only: the match starts at the last byte of any fill, and a pattern for the whole run
# would be retried at each of its bytes, quadratic in a run of fill with no marker after it.
_MARKER = re.compile(rb"\xff([^\x00\xff\xd0-\xd7])")
# Segments a real JPEG has: some tens, a progressive one about two per scan.
_SEGMENTS_PER_SCAN = 4
_SEGMENTS_BESIDES = 1000


def check_jpeg_scans(ctx: Context) -> None:
    if ctx.need_format() is not SourceFormat.JPEG:
        return
    limit = ctx.limits.max_jpeg_scans
    if _over_scan_limit(ctx.data, limit):
        raise UnsupportedFormat(
            f"a JPEG of more than {limit} progressive scans (or as long a chain of segments) "
            "is not accepted"
        )


def _over_scan_limit(data: bytes, limit: int) -> bool:
    """Whether the JPEG's own segment chain (not its metadata, where an EXIF thumbnail has
    scans of its own, nor data past its end) has more than `limit` start-of-scan markers, or
    more segments than such a JPEG could have."""
    if not _takes_several_scans(data):
        return False
    # Every scan starts with the bytes FF DA, so their plain count bounds the scans from
    # above: it settles the question at memory speed for all but hostile files, where the
    # walk below passes over every byte of scan data.
    if data.count(b"\xff\xda") <= limit:
        return False
    scans = 0
    for segments, (marker, _) in enumerate(_segments(data), 1):
        scans += marker == _SOS
        if scans > limit or segments > _SEGMENTS_PER_SCAN * limit + _SEGMENTS_BESIDES:
            return True
    return False


def _takes_several_scans(data: bytes) -> bool:
    """Whether libjpeg would read past the first scan: in a progressive JPEG, or when the
    first scan leaves components to later ones. Otherwise it is done after that scan and
    never decodes another. Read from the header alone, so a baseline photo costs nothing."""
    progressive, components = False, b""
    for segments, (marker, at) in enumerate(_segments(data), 1):
        if segments > _SEGMENTS_BESIDES:
            return True
        if marker in _SOF:
            progressive, components = marker in _PROGRESSIVE_SOF, data[at + 7 : at + 8]
        elif marker == _SOS:
            return progressive or not components or data[at + 2 : at + 3] < components
    return False


def _segments(data: bytes) -> Iterator[tuple[int, int]]:
    """(marker, where its segment starts after the marker) along the chain up to EOI."""
    at = 2
    while (found := _MARKER.search(data, at)) is not None:
        marker, at = found[1][0], found.end()
        if marker == _EOI:
            return
        if marker in _STANDALONE:
            continue
        yield marker, at
        # The length covers the segment's header; a scan's data follows, and _MARKER skips it.
        at += int.from_bytes(data[at : at + 2], "big")
