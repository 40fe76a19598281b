import re

from processor.engine.context import Context
from processor.engine.errors import UnsupportedFormat
from schemas.images import SourceFormat

_SOS, _EOI = 0xDA, 0xD9
# Markers without a length: SOI, TEM. Restarts are never matched (see _MARKER).
_STANDALONE = {0xD8, 0x01}
# The next marker as libjpeg finds it: any bytes, 0xFF fill, then a code that is not a
# stuffed zero. Restart markers are passed over with the scan data they sit in. Junk bytes
# between segments only make libjpeg warn, so they must not end the walk here either.
_MARKER = re.compile(rb"\xff+([^\x00\xff\xd0-\xd7])")
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
    scans, segments, at = 0, 0, 2
    while (found := _MARKER.search(data, at)) is not None:
        marker, at = found[1][0], found.end()
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            continue
        segments += 1
        scans += marker == _SOS
        if scans > limit or segments > _SEGMENTS_PER_SCAN * limit + _SEGMENTS_BESIDES:
            return True
        # The length covers the segment's header; a scan's data follows, and _MARKER skips it.
        at += int.from_bytes(data[at : at + 2], "big")
    return False
