"""How many pixels libheif will decode for a HEIF/AVIF file, read from its boxes alone.

libvips reports the size a HEIF image is *displayed* at, not what libheif decodes: a `clap`
(clean aperture) crop is applied after the whole coded image is decoded, and a grid or
overlay decodes each of its `dimg` references once per reference, so a tiny grid can name
the same big tile hundreds of times. And an overlay (`iovl`) is drawn on a canvas of the
size its payload states, whatever its `ispe` says. This reads the ISOBMFF boxes that say so:
`ispe` sizes and their `ipma` associations, `dimg` references, and for an overlay its item
type (`iinf`), where its payload is (`iloc`: in the file or in `idat`) and the canvas size
at the start of that payload.

Damage is read like a lenient decoder would, not refused with 0: a box cut short by the end
of the file or of its parent is read as far as it goes and what cannot be read is skipped,
so a damaged file still yields every size it states (libheif itself decodes files with, say,
a last box running past the end). Counts are checked against the bytes that hold them before
anything is read, and the work is capped, so no input makes this slow or large.
"""

import contextlib
import struct
from collections import Counter
from collections.abc import Iterator
from typing import Final

# The result for a file too complex to bound: a reference cycle (libheif only notices it on
# coming back round), derived images nested deeper than _MAX_DEPTH, or more boxes or entries
# than the caps below. No real image does that; a caller with a pixel limit refuses it.
UNBOUNDED: Final = 2**63 - 1

_MAX_READS: Final = 1 << 18  # boxes, `dimg` references, `ipma` entries and associations
_MAX_DEPTH: Final = 16  # derived images (a grid of grids...) within one another


class _Unbounded(Exception):
    """The file is too complex to bound."""


class _Cut(Exception):
    """A field runs past the end of its box."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = _MAX_READS  # what is left of the budget
        self.areas: dict[int, int] = {}  # item ID -> largest `ispe` area associated with it
        self.refs: dict[int, Counter[int]] = {}  # item ID -> its `dimg` references, repeats
        self.costs: dict[int, int] = {}  # item ID -> cost(item), once known
        self.types: dict[int, bytes] = {}  # item ID -> item type (`iinf`)
        # item ID -> (construction method, offset, length) of its first extent (`iloc`)
        self.places: dict[int, tuple[int, int, int]] = {}
        self.idat = (0, 0)  # body of the `idat` box

    def uint(self, at: int, size: int, end: int) -> int:
        """The big-endian unsigned integer of `size` bytes at `at`, all before `end`."""
        if at + size > end:
            raise _Cut
        return int.from_bytes(self.data[at : at + size], "big")

    def spend(self, reads: int) -> None:
        self.reads -= reads
        if self.reads < 0:
            raise _Unbounded

    def children(self, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        """(type, body start, body end) of each box in data[start:end]; a box running past
        `end` is cut there, and a header that cannot be read ends the list."""
        while end - start >= 8:
            self.spend(1)
            size, kind = struct.unpack_from(">I4s", self.data, start)
            body = start + 8
            if size == 1:  # a 64-bit size follows the type
                if end - start < 16:
                    return
                size = int.from_bytes(self.data[body : body + 8], "big")
                body += 8
            elif size == 0:  # the box runs to the end of its parent
                size = end - start
            if size < body - start:  # smaller than its own header: no way to the next box
                return
            yield kind, body, min(start + size, end)
            start += size

    def read_file(self) -> None:
        for kind, start, end in self.children(0, len(self.data)):
            if kind == b"meta":  # a FullBox: 4 bytes of version and flags before its children
                for child, at, stop in self.children(start + 4, end):
                    if child == b"iref" and stop - at >= 4:
                        self.read_iref(at, stop)
                    elif child == b"iprp":
                        self.read_iprp(at, stop)
                    elif child == b"iinf" and stop - at >= 4:
                        self.read_iinf(at, stop)
                    elif child == b"iloc" and stop - at >= 4:
                        with contextlib.suppress(_Cut):  # the items before the cut are kept
                            self.read_iloc(at, stop)
                    elif child == b"idat":
                        self.idat = (at, stop)
        for item, kind in self.types.items():
            if kind == b"iovl" and item in self.places:
                self.areas[item] = max(self.areas.get(item, 0), self.overlay_canvas(item))

    def read_iinf(self, start: int, end: int) -> None:
        """After the entry count, an `infe` per item: from version 2, its ID and type."""
        count_size = 4 if self.data[start] >= 1 else 2
        for kind, at, stop in self.children(start + 4 + count_size, end):
            if kind == b"infe" and stop - at >= 4 and self.data[at] in (2, 3):
                id_size = 2 if self.data[at] == 2 else 4
                if stop - at >= 4 + id_size + 2 + 4:  # ID, protection index, type
                    item = self.uint(at + 4, id_size, stop)
                    self.types[item] = self.data[at + 4 + id_size + 2 : at + 4 + id_size + 6]

    def read_iloc(self, start: int, end: int) -> None:
        """Field sizes, then per item: its ID, construction method (from version 1), data
        reference, base offset and extents (an index from version 1, offset, length)."""
        version, at = self.data[start], start + 4

        def field(size: int) -> int:
            nonlocal at
            at += size
            return self.uint(at - size, size, end)

        if version > 2:
            return
        offset_size, length_size = divmod(field(1), 16)
        base_size, index_size = divmod(field(1), 16)
        index_size = index_size if version >= 1 else 0  # reserved in version 0
        id_size = 4 if version == 2 else 2
        for _ in range(field(id_size)):
            self.spend(1)
            item = field(id_size)
            method = field(2) & 15 if version >= 1 else 0
            field(2)  # data reference index
            base, extents = field(base_size), field(2)
            if extents and method in (0, 1):  # 2 (in other items) is not for overlays
                field(index_size)
                self.places[item] = (method, base + field(offset_size), field(length_size))
                extents -= 1
            at += extents * (index_size + offset_size + length_size)

    def overlay_canvas(self, item: int) -> int:
        """The canvas area an overlay's payload states: version, flags, four 16-bit fill
        values, then width and height, each 16-bit or, if flags & 1, 32-bit (so does libheif
        read it, and the standard)."""
        method, offset, length = self.places[item]
        start, end = (0, len(self.data)) if method == 0 else self.idat
        at = start + offset
        if length:
            end = min(end, at + length)
        try:
            size = 4 if self.uint(at, 2, end) & 1 else 2  # version, then flags
            return self.uint(at + 10, size, end) * self.uint(at + 10 + size, size, end)
        except _Cut:
            return 0

    def read_iref(self, start: int, end: int) -> None:
        """Each reference box: from_item_ID, reference_count, then that many to_item_IDs."""
        width = 4 if self.data[start] >= 1 else 2  # item IDs are 32-bit from version 1
        for kind, at, stop in self.children(start + 4, end):
            if kind != b"dimg" or stop - at < width + 2:
                continue
            source = int.from_bytes(self.data[at : at + width], "big")
            count = int.from_bytes(self.data[at + width : at + width + 2], "big")
            at += width + 2
            count = min(count, (stop - at) // width)  # only the IDs actually present
            self.spend(count)
            ids = struct.unpack_from(f">{count}{'I' if width == 4 else 'H'}", self.data, at)
            self.refs.setdefault(source, Counter()).update(ids)

    def read_iprp(self, start: int, end: int) -> None:
        """`ipco` lists the properties (1-based, in order); `ipma` associates them to items."""
        ispe: dict[int, int] = {}  # property index -> area
        ipmas: list[tuple[int, int]] = []
        for kind, at, stop in self.children(start, end):
            if kind == b"ipco":
                for index, (prop, p_at, p_stop) in enumerate(self.children(at, stop), 1):
                    if prop == b"ispe" and p_stop - p_at >= 12:  # FullBox, then width, height
                        width, height = struct.unpack_from(">II", self.data, p_at + 4)
                        ispe[index] = width * height
            elif kind == b"ipma":
                ipmas.append((at, stop))
        for at, stop in ipmas:  # read once every `ipco` is: `ipma` may come first
            if stop - at < 8:
                continue
            version, flags = self.data[at], int.from_bytes(self.data[at + 1 : at + 4], "big")
            id_size, assoc_size = (4 if version >= 1 else 2), (2 if flags & 1 else 1)
            count = int.from_bytes(self.data[at + 4 : at + 8], "big")
            at += 8
            for _ in range(count):
                if stop - at < id_size + 1:
                    break
                item = int.from_bytes(self.data[at : at + id_size], "big")
                n = min(self.data[at + id_size], (stop - at - id_size - 1) // assoc_size)
                at += id_size + 1
                self.spend(1 + n)
                # Each association: an 'essential' top bit, then the property index (0: none).
                fmt, mask = (f">{n}H", 0x7FFF) if assoc_size == 2 else (f">{n}B", 0x7F)
                areas = [ispe.get(v & mask, 0) for v in struct.unpack_from(fmt, self.data, at)]
                self.areas[item] = max([self.areas.get(item, 0), *areas])
                at += n * assoc_size

    def cost(self, item: int, path: tuple[int, ...] = ()) -> int:
        """Pixels decoded for `item`: its own `ispe`, or for a derived image the sum over its
        references of theirs (libheif decodes a derived reference again at each use, and a
        reference can itself be derived: an overlay of grids)."""
        if item not in self.costs:
            if item in path or len(path) >= _MAX_DEPTH:
                raise _Unbounded
            refs = self.refs.get(item, Counter()).items()
            total = sum(n * self.cost(ref, (*path, item)) for ref, n in refs)
            self.costs[item] = max(self.areas.get(item, 0), total)
        return self.costs[item]


def decoded_pixels(data: bytes) -> int:
    """An upper bound of the pixels libheif decodes for any one item of a HEIF/AVIF file.

    That is the largest `ispe` (coded size) area of any item, or for a derived image (one with
    `dimg` references: grid, overlay...) the sum over its references, repeats counted, of what
    each of them decodes, if larger. Items without an `ispe` count 0, so a file with no
    readable size (not HEIF at all) gives 0; a file too complex to bound gives UNBOUNDED.
    Never raises.
    """
    reader = _Reader(data)
    try:
        reader.read_file()
        derived = [reader.cost(item) for item in reader.refs]
    except _Unbounded:
        return UNBOUNDED
    return min(max([0, *reader.areas.values(), *derived]), UNBOUNDED)
