import re

from processor.engine.context import Context
from processor.engine.errors import UnsupportedFormat
from schemas.images import SourceFormat

_SOS, _EOI = 0xDA, 0xD9
# Markers that stand alone, without a length: restarts, TEM, and 0xFF fill bytes.
_STANDALONE = {*range(0xD0, 0xD8), 0x01, 0xFF}
# The end of a scan's entropy-coded data: a 0xFF that is not a stuffed zero or a restart.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def check_jpeg_scans(ctx: Context) -> None:
    if ctx.need_format() is not SourceFormat.JPEG:
        return
    scans, limit = (
        _count_scans(ctx.data, stop_after=ctx.limits.max_jpeg_scans),
        ctx.limits.max_jpeg_scans,
    )
    if scans > limit:
        raise UnsupportedFormat(f"a JPEG of more than {limit} progressive scans is not accepted")


def _count_scans(data: bytes, stop_after: int) -> int:
    """Start-of-scan markers in the JPEG's own segment chain (not inside its metadata, where
    an EXIF thumbnail has scans of its own); counting stops past `stop_after`. A broken chain
    ends the count: the decoder reports the file itself."""
    scans, at = 0, 2
    while scans <= stop_after and at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == _EOI:
            break
        if marker in _STANDALONE:
            at += 1 if marker == 0xFF else 2
            continue
        after_segment = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
        if marker != _SOS:
            at = after_segment
            continue
        scans += 1
        end = _END_OF_SCAN.search(data, after_segment)
        if end is None:
            break
        at = end.start()
    return scans
