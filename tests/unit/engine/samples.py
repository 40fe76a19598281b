"""Images made on the spot for the engine's tests: nothing is downloaded or stored."""

import io
import random
import struct
import zlib

import pyvips
from PIL import Image as PILImage

RED = (255, 0, 0)
GREEN = (0, 160, 0)
BLUE = (0, 0, 255)


def solid(width: int, height: int, colour: tuple[int, ...] = GREEN) -> pyvips.Image:
    bands = [(pyvips.Image.black(width, height) + value).cast("uchar") for value in colour]
    image = bands[0].bandjoin(bands[1:])
    return image.copy(interpretation="srgb" if len(colour) >= 3 else "b-w")


def photo(width: int, height: int, seed: int = 1) -> pyvips.Image:
    """Gradients plus noise: compresses like a photograph, unlike a flat colour."""
    xyz = pyvips.Image.xyz(width, height)
    red = xyz[0] * (255 / width)
    green = xyz[1] * (255 / height)
    blue = (xyz[0] + xyz[1]) * (127 / (width + height)) + 64
    noise = pyvips.Image.gaussnoise(width, height, sigma=18, seed=seed)
    image = red.bandjoin([green, blue]) + noise
    return image.cast("uchar").copy(interpretation="srgb")


def marked(width: int, height: int) -> pyvips.Image:
    """Green with a red block in the top-left corner, to see where that corner lands."""
    return solid(width, height).draw_rect(list(RED), 0, 0, width // 4, height // 4, fill=True)


def jpeg(image: pyvips.Image, **options: object) -> bytes:
    data: bytes = image.jpegsave_buffer(Q=options.pop("Q", 92), **options)
    return data


def png(image: pyvips.Image) -> bytes:
    data: bytes = image.pngsave_buffer()
    return data


def decode(data: bytes, **options: object) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "", **options)


def pixel(data: bytes, x: int, y: int) -> list[float]:
    values: list[float] = decode(data).getpoint(x, y)
    return values


def with_orientation(upright: pyvips.Image, orientation: int) -> bytes:
    """A JPEG that shows `upright` once its EXIF `orientation` is applied."""
    stored = {
        1: lambda im: im,
        2: lambda im: im.fliphor(),
        3: lambda im: im.rot("d180"),
        4: lambda im: im.flipver(),
        5: lambda im: im.rot("d90").fliphor(),
        6: lambda im: im.rot("d270"),
        7: lambda im: im.rot("d270").fliphor(),
        8: lambda im: im.rot("d90"),
    }[orientation](upright).copy()
    stored.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    return jpeg(stored)


def cmyk_jpeg(width: int, height: int, cmyk: tuple[int, int, int, int]) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("CMYK", (width, height), cmyk).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def palette_png_with_transparency(width: int, height: int) -> bytes:
    """Left half palette entry 0 (transparent), right half entry 1 (opaque blue)."""
    image = PILImage.new("P", (width, height), 0)
    image.putpalette([*RED, *BLUE] + [0] * (256 * 3 - 6))
    image.paste(1, (width // 2, 0, width, height))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", transparency=0)
    return buffer.getvalue()


def animated_gif(colours: list[tuple[int, int, int]], size: tuple[int, int] = (120, 80)) -> bytes:
    frames = [PILImage.new("RGB", size, colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(
        buffer,
        "GIF",
        save_all=True,
        append_images=frames[1:],
        duration=[100 + 10 * i for i in range(len(frames))],
        loop=0,
    )
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG whose header claims `width` x `height` over a few KB of data."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes(4096))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def hevc_heic() -> bytes:
    """An HEIC whose image item is HEVC-coded, as phones write them.

    No HEVC encoder is at hand, so this rewrites an AVIF: brands to `heic`, the item type to
    `hvc1` and its `av1C` property to a minimal `hvcC`, fixing the box sizes and the offsets
    into the data that follow. The structure parses; the pixels are not valid HEVC.
    """
    avif = bytearray(solid(64, 64).heifsave_buffer(compression="av1"))
    boxes = _boxes(avif)
    av1c_at, av1c_size = boxes[b"av1C"]
    hvcc_body = bytes([1, 1, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 90, 0xF0, 0, 0xFC, 0xFD])
    hvcc_body += bytes([0xF8, 0xF8, 0, 0, 0x0F, 0])
    hvcc = struct.pack(">I4s", 8 + len(hvcc_body), b"hvcC") + hvcc_body
    grown = len(hvcc) - av1c_size
    heic = avif[:av1c_at] + hvcc + avif[av1c_at + av1c_size :]
    for parent in (b"meta", b"iprp", b"ipco"):
        at, size = boxes[parent]
        heic[at : at + 4] = struct.pack(">I", size + grown)
    _shift_item_offsets(heic, boxes[b"iloc"][0], grown)
    return (
        bytes(heic)
        .replace(b"ftypavif", b"ftypheic")
        .replace(b"mif1avif", b"mif1heic")
        .replace(b"av01", b"hvc1")
    )


def _boxes(data: bytearray) -> dict[bytes, tuple[int, int]]:
    """Offsets and sizes of the ISO BMFF boxes on the path to the image properties."""
    header_after = {b"meta": 12, b"iprp": 8, b"ipco": 8}
    found: dict[bytes, tuple[int, int]] = {}

    def walk(start: int, end: int) -> None:
        at = start
        while at < end:
            size, kind = struct.unpack(">I4s", data[at : at + 8])
            found[kind] = (at, size)
            if kind in header_after:
                walk(at + header_after[kind], at + size)
            at += size

    walk(0, len(data))
    return found


def _shift_item_offsets(data: bytearray, iloc_at: int, by: int) -> None:
    at = iloc_at + 8
    version = data[at]
    at += 4
    offset_size, length_size = data[at] >> 4, data[at] & 15
    base_size, index_size = data[at + 1] >> 4, data[at + 1] & 15
    at += 2
    (items,) = struct.unpack(">H", data[at : at + 2])
    at += 2
    for _ in range(items):
        at += 2 + (2 if version in (1, 2) else 0) + 2 + base_size
        (extents,) = struct.unpack(">H", data[at : at + 2])
        at += 2
        assert offset_size == 4, "libvips writes 32-bit item offsets"
        for _ in range(extents):
            at += index_size if version in (1, 2) else 0
            (offset,) = struct.unpack(">I", data[at : at + offset_size])
            data[at : at + offset_size] = struct.pack(">I", offset + by)
            at += offset_size + length_size


SVG = (
    b'<?xml version="1.0"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
    b'<rect width="200" height="100" fill="#ff0000"/></svg>'
)


def mutations(data: bytes, count: int, seed: int) -> list[bytes]:
    """`count` damaged copies of `data`: flipped bytes, cut tails, spliced garbage."""
    rng = random.Random(seed)
    damaged = []
    for _ in range(count):
        copy = bytearray(data)
        match rng.randrange(3):
            case 0:
                for _ in range(rng.randint(1, 20)):
                    copy[rng.randrange(len(copy))] = rng.randrange(256)
            case 1:
                del copy[rng.randrange(8, len(copy)) :]
            case 2:
                at = rng.randrange(len(copy))
                copy[at:at] = rng.randbytes(rng.randint(1, 64))
        damaged.append(bytes(copy))
    return damaged
