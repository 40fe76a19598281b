"""The pixel bound read from a HEIF/AVIF file's boxes, on files built here on the spot.

The hostile files are real: libvips opens them and reports the small displayed size that
the bound has to see through.
"""

import random
import struct
import time
from collections.abc import Collection, Iterator, Mapping, Sequence

import pytest
import pyvips

from processor.engine import Limits, TooManyPixels, Variant, process_image
from processor.engine.heif_boxes import UNBOUNDED, decoded_pixels
from tests.unit.engine import samples


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def fullbox(kind: bytes, version: int, flags: int, body: bytes) -> bytes:
    return box(kind, struct.pack(">I", version << 24 | flags) + body)


def ispe(width: int, height: int) -> bytes:
    return fullbox(b"ispe", 0, 0, struct.pack(">II", width, height))


def clap(width: int, height: int) -> bytes:
    """A centred clean aperture (crop) of width x height."""
    return box(b"clap", struct.pack(">IIIIiIiI", width, 1, height, 1, 0, 1, 0, 1))


def children(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of the boxes in well-formed data (what libvips writes)."""
    at = 0
    while at < len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        yield kind, data[at + 8 : at + size]
        at += size


def find(data: bytes, *path: bytes) -> bytes:
    """The body of the box at `path`; `meta` is a FullBox."""
    for kind in path:
        data = dict(children(data))[kind]
        if kind == b"meta":
            data = data[4:]
    return data


def av1_tile(width: int, height: int) -> tuple[bytes, bytes]:
    """(av1C box, coded data) of a real AVIF image of width x height."""
    image = pyvips.Image.black(width, height, bands=3)
    avif = image.heifsave_buffer(compression="av1", effort=0, keep="none")
    av1c = find(avif, b"meta", b"iprp", b"ipco", b"av1C")
    return box(b"av1C", av1c), find(avif, b"mdat")  # keep="none": one item, all of mdat


def heif(
    props: Sequence[bytes],
    assoc: Mapping[int, Sequence[int]],
    items: Mapping[int, tuple[bytes, bytes]],
    refs: Sequence[tuple[int, Sequence[int]]] = (),
    *,
    primary: int = 1,
    wide_ids: bool = False,
    wide_assoc: bool = False,
    in_idat: Collection[int] = (),
) -> bytes:
    """A HEIF file: `props` is the ipco, `assoc` maps an item to its (1-based) properties,
    all essential; `items` maps an item to (type, data); `refs` are `dimg` references.
    `wide_ids` uses 32-bit IDs (version 1 iref, ipma and iinf, 3 infe, 2 iloc), `wide_assoc`
    16-bit associations; the data of the items `in_idat` is in an idat box, not in mdat."""
    ids = sorted(items)
    mdat = b"".join(items[i][1] for i in ids if i not in in_idat)
    idat = b"".join(items[i][1] for i in ids if i in in_idat)
    id_fmt = ">I" if wide_ids else ">H"
    iloc_version = 2 if wide_ids else 1 if in_idat else 0

    def meta(mdat_at: int) -> bytes:
        extents, idat_at = b"", 0
        for i in ids:  # 4-byte offsets and lengths, no base offset
            method, at = (1, idat_at) if i in in_idat else (0, mdat_at)
            extents += struct.pack(id_fmt, i)
            extents += struct.pack(">H", method) if iloc_version else b""
            extents += struct.pack(">HHII", 0, 1, at, len(items[i][1]))
            if i in in_idat:
                idat_at += len(items[i][1])
            else:
                mdat_at += len(items[i][1])
        head = b"\x44\x00" + struct.pack(id_fmt, len(ids))
        iloc = fullbox(b"iloc", iloc_version, 0, head + extents)
        infe = b"".join(
            fullbox(
                b"infe",
                3 if wide_ids else 2,
                int(i != primary),
                struct.pack(id_fmt, i) + b"\0\0" + items[i][0] + b"\0",
            )
            for i in ids
        )
        dimg = b"".join(
            box(
                b"dimg",
                struct.pack(id_fmt, source)
                + struct.pack(">H", len(targets))
                + b"".join(struct.pack(id_fmt, t) for t in targets),
            )
            for source, targets in refs
        )
        entries = b""
        for item, indices in assoc.items():
            entries += struct.pack(id_fmt, item) + bytes([len(indices)])
            for index in indices:
                entries += (
                    struct.pack(">H", 0x8000 | index) if wide_assoc else bytes([0x80 | index])
                )
        ipma = fullbox(
            b"ipma", int(wide_ids), int(wide_assoc), struct.pack(">I", len(assoc)) + entries
        )
        return fullbox(
            b"meta",
            0,
            0,
            fullbox(b"hdlr", 0, 0, b"\0" * 4 + b"pict" + b"\0" * 13)
            + fullbox(b"pitm", int(wide_ids), 0, struct.pack(id_fmt, primary))
            + iloc
            + fullbox(b"iinf", int(wide_ids), 0, struct.pack(id_fmt, len(ids)) + infe)
            + (fullbox(b"iref", int(wide_ids), 0, dimg) if refs else b"")
            + box(b"iprp", box(b"ipco", b"".join(props)) + ipma)
            + (box(b"idat", idat) if in_idat else b""),
        )

    ftyp = box(b"ftyp", b"avif" + b"\0" * 4 + b"mif1avifmiaf")
    head = ftyp + meta(0)
    return ftyp + meta(len(head) + 8) + box(b"mdat", mdat)


def grid_data(rows: int, cols: int, width: int, height: int) -> bytes:
    return struct.pack(">BBBBII", 0, 1, rows - 1, cols - 1, width, height)


def grid(tile: tuple[bytes, bytes], size: tuple[int, int], rows: int, cols: int) -> bytes:
    """A rows x cols grid displayed 100x100, every cell the same tile (item 1)."""
    av1c, coded = tile
    return heif(
        [av1c, ispe(*size), ispe(100, 100)],
        {1: [1, 2], 2: [3]},
        {1: (b"av01", coded), 2: (b"grid", grid_data(rows, cols, 100, 100))},
        [(2, [1] * (rows * cols))],
        primary=2,
    )


def overlay(
    tile: tuple[bytes, bytes],
    canvas: tuple[int, int],
    *,
    long_fields: bool = False,
    in_idat: bool = False,
    wide_ids: bool = False,
) -> bytes:
    """An overlay (item 2) of the tile (item 1) at 0, 0 on a canvas of `canvas` size, and yet
    with an ispe of 64 x 64; `long_fields`: 32-bit canvas size and offsets (flags & 1)."""
    av1c, coded = tile
    field = "I" if long_fields else "H"
    payload = struct.pack(
        f">BB4H2{field}2{field.lower()}", 0, int(long_fields), 0, 0, 0, 0xFFFF, *canvas, 0, 0
    )
    return heif(
        [av1c, ispe(256, 128), ispe(64, 64)],
        {1: [1, 2], 2: [3]},
        {1: (b"av01", coded), 2: (b"iovl", payload)},
        [(2, [1])],
        primary=2,
        wide_ids=wide_ids,
        in_idat=[2] if in_idat else [],
    )


@pytest.fixture(scope="module")
def tile() -> tuple[bytes, bytes]:
    return av1_tile(256, 128)


@pytest.fixture(scope="module")
def hostile_grid(tile: tuple[bytes, bytes]) -> bytes:
    return grid(tile, (256, 128), rows=8, cols=8)


@pytest.mark.parametrize("bands", [3, 4])
def test_a_plain_avif_is_bounded_by_its_size(bands: int) -> None:
    image = pyvips.Image.black(120, 70, bands=bands).copy(interpretation="srgb")
    avif = image.heifsave_buffer(compression="av1", effort=0)
    assert decoded_pixels(avif) == 120 * 70


def test_a_rebuilt_avif_decodes_and_is_bounded_by_its_size(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    avif = heif([av1c, ispe(256, 128)], {1: [1, 2]}, {1: (b"av01", coded)})
    assert pyvips.Image.new_from_buffer(avif, "").avg() == 0  # the builder makes real files
    assert decoded_pixels(avif) == 256 * 128


def test_a_crop_counts_the_coded_size_not_the_cropped_one(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    avif = heif([av1c, ispe(256, 128), clap(16, 8)], {1: [1, 2, 3]}, {1: (b"av01", coded)})
    image = pyvips.Image.new_from_buffer(avif, "")
    assert (image.width, image.height) == (16, 8)  # what libvips tells
    assert decoded_pixels(avif) == 256 * 128  # what libheif decodes first


def test_a_grid_counts_every_repeated_reference(hostile_grid: bytes) -> None:
    image = pyvips.Image.new_from_buffer(hostile_grid, "")
    assert (image.width, image.height, image.avg()) == (100, 100, 0)  # decodes 64 tiles
    assert decoded_pixels(hostile_grid) == 64 * 256 * 128


def test_an_overlay_of_grids_multiplies(tile: tuple[bytes, bytes]) -> None:
    # libheif refuses a grid of grids (MIAF orders derivations) but not an overlay of them.
    av1c, coded = tile
    overlay = struct.pack(">BB4HHH", 0, 0, 0, 0, 0, 0xFFFF, 100, 100) + b"\0" * 4 * 3
    avif = heif(
        [av1c, ispe(256, 128), ispe(100, 100)],
        {1: [1, 2], 2: [3], 3: [3]},
        {1: (b"av01", coded), 2: (b"grid", grid_data(2, 2, 100, 100)), 3: (b"iovl", overlay)},
        [(2, [1] * 4), (3, [2] * 3)],
        primary=3,
    )
    image = pyvips.Image.new_from_buffer(avif, "")
    assert (image.width, image.height, image.avg()) == (100, 100, 0)  # decodes 12 tiles
    assert decoded_pixels(avif) == 3 * 4 * 256 * 128


OVERLAYS = [  # (long_fields, in_idat, wide_ids)
    pytest.param(False, False, False, id="16-bit"),
    pytest.param(True, False, False, id="32-bit"),
    pytest.param(False, True, False, id="16-bit-in-idat"),
    pytest.param(True, True, True, id="32-bit-in-idat-wide-ids"),
    pytest.param(False, False, True, id="16-bit-wide-ids"),
]


@pytest.mark.parametrize(("long_fields", "in_idat", "wide_ids"), OVERLAYS)
def test_an_overlay_counts_the_canvas_its_payload_states(
    tile: tuple[bytes, bytes], long_fields: bool, in_idat: bool, wide_ids: bool
) -> None:
    # libheif allocates the canvas the payload states before it compares it with the ispe.
    options = {"long_fields": long_fields, "in_idat": in_idat, "wide_ids": wide_ids}
    fitting = overlay(tile, (64, 64), **options)
    image = pyvips.Image.new_from_buffer(fitting, "")  # the builder makes real files
    assert (image.width, image.height, image.avg()) == (64, 64, 0)
    assert decoded_pixels(fitting) == 256 * 128  # the tile is the larger
    canvas = (70_000, 30) if long_fields else (1000, 900)  # 70_000 needs the 32-bit field
    assert decoded_pixels(overlay(tile, canvas, **options)) == canvas[0] * canvas[1]


@pytest.mark.parametrize("in_idat", [False, True], ids=["in-mdat", "in-idat"])
def test_a_damaged_overlay_never_raises(tile: tuple[bytes, bytes], in_idat: bool) -> None:
    avif = overlay(tile, (1000, 900), long_fields=True, in_idat=in_idat)
    full = decoded_pixels(avif)
    assert full == 1000 * 900
    bounds = [decoded_pixels(avif[:cut]) for cut in range(len(avif))]
    assert all(0 <= bound <= full for bound in bounds)
    assert full in bounds  # mdat's last bytes are the tile's, not the payload's
    rng = random.Random(20261124)
    outcomes = set()
    for _ in range(2000):
        damaged = bytearray(avif)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(len(avif))] = rng.randrange(256)
        bound = decoded_pixels(bytes(damaged))
        assert 0 <= bound <= UNBOUNDED
        outcomes.add(bound)
    assert len(outcomes) > 3


def test_wide_ids_and_associations_are_read(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    avif = heif(
        [av1c, ispe(256, 128), ispe(100, 100)],
        {1: [1, 2], 2: [3]},
        {1: (b"av01", coded), 2: (b"grid", grid_data(1, 3, 100, 100))},
        [(2, [1, 1, 1])],
        primary=2,
        wide_ids=True,
        wide_assoc=True,
    )
    assert decoded_pixels(avif) == 3 * 256 * 128


def test_an_item_without_ispe_counts_nothing(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    avif = heif(
        [av1c, ispe(256, 128)], {1: [1], 2: [2]}, {1: (b"av01", coded), 2: (b"av01", coded)}
    )
    assert decoded_pixels(avif) == 256 * 128  # item 2's, not item 1's (which has none)
    assert decoded_pixels(heif([av1c], {1: [1]}, {1: (b"av01", coded)})) == 0


def test_64_bit_and_open_ended_box_sizes_are_read(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    avif = heif([av1c, ispe(256, 128)], {1: [1, 2]}, {1: (b"av01", coded)})
    ftyp, meta = box(b"ftyp", find(avif, b"ftyp")), box(b"meta", b"\0" * 4 + find(avif, b"meta"))
    size, kind = struct.unpack_from(">I4s", meta)
    large = struct.pack(">I4sQ", 1, kind, size + 8) + meta[8:]
    open_ended = struct.pack(">I4s", 0, kind) + meta[8:]
    assert decoded_pixels(ftyp + large) == 256 * 128
    assert decoded_pixels(ftyp + open_ended) == 256 * 128


def test_a_reference_cycle_is_unbounded(tile: tuple[bytes, bytes]) -> None:
    av1c, coded = tile
    items = {1: (b"av01", coded), 2: (b"grid", grid_data(1, 2, 100, 100))}
    props, assoc = [av1c, ispe(256, 128), ispe(100, 100)], {1: [1, 2], 2: [3]}
    assert decoded_pixels(heif(props, assoc, items, [(2, [1, 2])], primary=2)) == UNBOUNDED
    assert decoded_pixels(heif(props, assoc, items, [(2, [1, 1])], primary=2)) == 2 * 256 * 128


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\0" * 7,
        samples.png(samples.photo(32, 32)),
        samples.jpeg(samples.photo(32, 32)),
        random.Random(5).randbytes(4096),
    ],
    ids=["empty", "short", "png", "jpeg", "noise"],
)
def test_anything_else_is_zero(data: bytes) -> None:
    assert decoded_pixels(data) == 0


def test_truncation_at_every_offset_keeps_whatever_was_read(hostile_grid: bytes) -> None:
    full = decoded_pixels(hostile_grid)
    meta_end = hostile_grid.index(b"mdat") - 4
    started = time.monotonic()
    bounds = [decoded_pixels(hostile_grid[:cut]) for cut in range(len(hostile_grid))]
    assert time.monotonic() - started < 5
    assert all(0 <= bound <= full for bound in bounds)
    # The meta box whole, the bound is whole: a cut mdat hides nothing.
    assert set(bounds[meta_end:]) == {full}
    assert bounds[:meta_end].count(full) < meta_end


def test_random_damage_never_raises_nor_takes_long(hostile_grid: bytes) -> None:
    rng = random.Random(20240611)
    meta_end = hostile_grid.index(b"mdat") - 4
    outcomes = set()
    started = time.monotonic()
    for _ in range(3000):
        damaged = bytearray(hostile_grid)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(meta_end)] = rng.randrange(256)
        bound = decoded_pixels(bytes(damaged))
        assert 0 <= bound <= UNBOUNDED
        outcomes.add(bound)
    assert time.monotonic() - started < 10
    assert len(outcomes) > 3  # the damage did reach the boxes that matter


def test_huge_counts_and_sizes_cost_nothing() -> None:
    ftyp = box(b"ftyp", b"avif" + b"\0" * 4 + b"mif1avif")
    props = box(b"ipco", ispe(64, 64))
    lying_ipma = fullbox(b"ipma", 0, 0, struct.pack(">IHB", 0xFFFFFFFF, 1, 255) + b"\x81")
    lying_dimg = box(b"dimg", struct.pack(">HH", 2, 0xFFFF) + b"\0\1")
    lying_box = struct.pack(">I4sQ", 1, b"free", 2**64 - 1)
    meta = fullbox(
        b"meta",
        0,
        0,
        fullbox(b"iref", 0, 0, lying_dimg) + box(b"iprp", props + lying_ipma) + lying_box,
    )
    started = time.monotonic()
    assert decoded_pixels(ftyp + meta) == 64 * 64
    assert decoded_pixels(ftyp + meta + lying_box + meta) == 64 * 64
    assert time.monotonic() - started < 1


def test_too_many_boxes_or_entries_is_unbounded() -> None:
    ftyp = box(b"ftyp", b"avif" + b"\0" * 4 + b"mif1avif")
    many_boxes = fullbox(b"meta", 0, 0, box(b"free", b"") * 300_000)
    entries = struct.pack(">HB", 1, 255) + b"\x81" * 255
    many_entries = fullbox(
        b"meta",
        0,
        0,
        box(
            b"iprp",
            box(b"ipco", ispe(8, 8))
            + fullbox(b"ipma", 0, 0, struct.pack(">I", 2000) + entries * 2000),
        ),
    )
    started = time.monotonic()
    assert decoded_pixels(ftyp + many_boxes) == UNBOUNDED
    assert decoded_pixels(ftyp + many_entries) == UNBOUNDED
    assert decoded_pixels(ftyp + box(b"free", b"") * 1000 + many_entries[:4000]) == 64
    assert time.monotonic() - started < 2


# The engine's pixel limit, applied to what libheif decodes rather than what it shows.


def test_the_engine_refuses_a_grid_naming_one_tile_past_the_limit(hostile_grid: bytes) -> None:
    # Shown 100 x 100 (0.01 MP, far under the limit); decoded 64 x 256 x 128 (2.1 MP).
    limits = Limits(max_pixels=1_000_000)
    with pytest.raises(TooManyPixels, match=r"2\.1 megapixels"):
        process_image(hostile_grid, [Variant(width=50)], limits)


def test_the_engine_refuses_a_crop_of_a_coded_image_past_the_limit(
    tile: tuple[bytes, bytes],
) -> None:
    av1c, coded = tile
    avif = heif([av1c, ispe(256, 128), clap(16, 8)], {1: [1, 2, 3]}, {1: (b"av01", coded)})
    with pytest.raises(TooManyPixels, match="shown smaller"):
        process_image(avif, [Variant(width=8)], Limits(max_pixels=256 * 128 - 1))
    (output,) = process_image(avif, [Variant(width=8)], Limits(max_pixels=256 * 128))
    assert (output.width, output.height) == (8, 4)


def test_the_engine_refuses_an_overlay_canvas_past_the_limit(tile: tuple[bytes, bytes]) -> None:
    # Shown and coded 64 x 64 and 256 x 128, under the limit; the canvas is 512 x 512.
    avif = overlay(tile, (512, 512))
    with pytest.raises(TooManyPixels):
        process_image(avif, [Variant(width=32)], Limits(max_pixels=100_000))
