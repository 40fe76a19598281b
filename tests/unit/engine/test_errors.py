import time
from collections.abc import Callable

import pytest
import pyvips

from processor.engine import (
    CorruptImage,
    EmptyFile,
    EngineError,
    FileTooLarge,
    InternalError,
    InvalidParameter,
    Limits,
    OutputFormat,
    TooManyFrames,
    TooManyPixels,
    UnsupportedFormat,
    Variant,
    formats,
    probe,
    process_image,
)
from schemas.errors import ErrorCode
from schemas.images import SourceFormat
from tests.unit.engine import samples

DEFAULT = [Variant(width=100)]


def _fails(data: bytes, error: type[EngineError], limits: Limits | None = None) -> EngineError:
    with pytest.raises(error) as raised:
        process_image(data, DEFAULT, limits or Limits())
    assert raised.value.permanent
    return raised.value


def test_zero_bytes_is_an_empty_file() -> None:
    assert _fails(b"", EmptyFile).code == ErrorCode.EMPTY_FILE


def test_truncated_jpeg_is_corrupt() -> None:
    data = samples.jpeg(samples.photo(640, 480))
    error = _fails(data[: len(data) // 2], CorruptImage)
    assert error.code == ErrorCode.CORRUPT_IMAGE
    assert "premature end" in error.message.lower()


def test_text_is_an_unsupported_format() -> None:
    text = b"Just some notes, saved as photo.jpg by mistake.\n" * 10
    assert _fails(text, UnsupportedFormat).code == ErrorCode.UNSUPPORTED_FORMAT


def test_png_claiming_ten_gigapixels_is_refused_from_its_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = samples.png_claiming(100_000, 100_000)
    assert len(data) < 4096

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("decoding started")

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", no_decoding)
    started = time.perf_counter()
    assert _fails(data, TooManyPixels).code == ErrorCode.TOO_MANY_PIXELS
    with pytest.raises(TooManyPixels):
        probe(data)
    assert time.perf_counter() - started < 1


def test_a_tiff_of_many_channels_is_held_to_the_samples_of_five_a_pixel() -> None:
    # 100 x 100 pixels, well under the pixel limit, in 64 channels: six times the samples.
    many = pyvips.Image.black(100, 100, bands=64).cast("uchar").copy(interpretation="multiband")
    data = many.tiffsave_buffer(compression="deflate")
    error = _fails(data, TooManyPixels, Limits(max_pixels=10_000))
    assert "64 channels" in error.message
    five = samples.solid(100, 100, (0, 0, 0, 0, 255)).copy(interpretation="cmyk")
    (output,) = process_image(five.tiffsave_buffer(), DEFAULT, Limits(max_pixels=10_000))
    assert output.width == 100


def _twelve_bit_jpeg() -> bytes:
    data = samples.jpeg(samples.photo(64, 48))
    precision = data.index(b"\xff\xc0") + 4  # after the marker and the segment's length
    return data[:precision] + b"\x0c" + data[precision + 1 :]


def _animated_avif_brand() -> bytes:
    avif: bytes = samples.solid(16, 16).heifsave_buffer(compression="av1")
    return avif.replace(b"ftypavif", b"ftypavis", 1)


@pytest.mark.parametrize(
    "make", [_twelve_bit_jpeg, _animated_avif_brand], ids=["12-bit jpeg", "animated avif"]
)
def test_a_kind_of_a_format_this_build_cannot_read_is_unsupported_not_corrupt(
    make: Callable[[], bytes],
) -> None:
    _fails(make(), UnsupportedFormat)


def test_a_file_over_the_byte_limit_is_too_large() -> None:
    data = samples.jpeg(samples.photo(200, 200))
    assert _fails(data, FileTooLarge, Limits(max_bytes=len(data) - 1)).code == (
        ErrorCode.FILE_TOO_LARGE
    )
    process_image(data, DEFAULT, Limits(max_bytes=len(data)))


def test_an_animation_over_the_frame_limit_has_too_many_frames() -> None:
    data = samples.animated_gif([samples.RED, samples.GREEN, samples.BLUE, samples.RED])
    assert _fails(data, TooManyFrames, Limits(max_frames=3)).code == ErrorCode.TOO_MANY_FRAMES
    process_image(data, DEFAULT, Limits(max_frames=4))


def test_svg_is_refused_by_default() -> None:
    error = _fails(samples.SVG, UnsupportedFormat)
    assert "svg" in error.message


def test_pdf_is_refused_by_default() -> None:
    assert _fails(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", UnsupportedFormat).code == (
        ErrorCode.UNSUPPORTED_FORMAT
    )


def test_content_that_libvips_loads_as_another_format_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Our sniffing and libvips' must agree on the loader, or the file is refused.
    monkeypatch.setattr(formats, "sniff", lambda data: SourceFormat.PNG)
    with pytest.raises(UnsupportedFormat, match="does not load as one"):
        process_image(samples.jpeg(samples.solid(8, 8)), DEFAULT)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Variant(width=0),
        lambda: Variant(width=10_001),
        lambda: Variant(height=-5),
        lambda: Variant(width=True),
        lambda: Variant(quality=0),
        lambda: Variant(quality=101),
        lambda: Variant(fit="stretch"),  # type: ignore[arg-type]
        lambda: Variant(gravity="north"),  # type: ignore[arg-type]
        lambda: Variant(format="bmp"),  # type: ignore[arg-type]
        lambda: Variant(name=""),
        lambda: Variant(name="a/b"),
        lambda: Variant(background=(256, 0, 0)),
        lambda: Variant(enlarge="yes"),  # type: ignore[arg-type]
    ],
)
def test_invalid_variant_values_are_invalid_parameters(make: object) -> None:
    with pytest.raises(InvalidParameter) as raised:
        make()  # type: ignore[operator]
    assert raised.value.code == ErrorCode.INVALID_PARAMETER
    assert raised.value.permanent


@pytest.mark.parametrize(
    "variants",
    [[], [Variant("a"), Variant("a")], [Variant(f"v{i}") for i in range(17)]],
)
def test_invalid_variant_lists_are_invalid_parameters(variants: list[Variant]) -> None:
    with pytest.raises(InvalidParameter):
        process_image(samples.png(samples.solid(8, 8)), variants)


def test_a_size_the_output_format_cannot_hold_is_an_invalid_parameter() -> None:
    wide = samples.png(samples.solid(17_000, 4))
    with pytest.raises(InvalidParameter, match="webp"):
        process_image(wide, [Variant(format=OutputFormat.WEBP)])


@pytest.mark.parametrize(
    ("output_format", "side"), [(OutputFormat.JPG, 65_501), (OutputFormat.AVIF, 16_385)]
)
def test_the_encoders_own_side_limits_are_invalid_parameters_not_corrupt_images(
    output_format: OutputFormat, side: int
) -> None:
    # libjpeg stops at 65,500 and libheif's AV1 encoder at 16,384, short of their formats:
    # one pixel past is refused up front, and the limit itself really encodes.
    wide = samples.png(samples.solid(side, 1))
    with pytest.raises(InvalidParameter, match=f"at most {side - 1} pixels"):
        process_image(wide, [Variant(format=output_format)])
    at_limit = samples.png(samples.solid(side - 1, 1))
    (output,) = process_image(at_limit, [Variant(format=output_format)])
    assert samples.decode(output.data).width == side - 1


def _avif_with_an_unknown_essential_property() -> bytes:
    avif: bytes = samples.solid(16, 16).heifsave_buffer(compression="av1")
    # The pixi property renamed to a type that is not ASCII, and marked essential in ipma:
    # libheif refuses it and names the type in its message, raw.
    association = b"\x00\x01\x03\x81\x02\x03"
    assert b"pixi" in avif and association in avif
    return avif.replace(b"pixi", b"p\xb4xi").replace(association, association[:-1] + b"\x83")


def test_a_libvips_message_that_is_not_utf8_is_still_a_permanent_corrupt_image() -> None:
    error = _fails(_avif_with_an_unknown_essential_property(), CorruptImage)
    assert "Unsupported essential item property" in error.message
    # pyvips left that message in libvips' buffer; the next error must not inherit it.
    next_error = _fails(samples.jpeg(samples.solid(8, 8))[:100], CorruptImage)
    assert "item property" not in next_error.message


def test_a_heif_error_says_why_not_only_where_libvips_was_seeking() -> None:
    avif: bytes = samples.solid(16, 16).heifsave_buffer(compression="av1")
    error = _fails(avif[: len(avif) // 2], CorruptImage)
    assert "bad seek" not in error.message
    assert "heif" in error.message


def _progressive_jpeg(**options: object) -> tuple[bytes, int]:
    data: bytes = samples.jpeg(samples.photo(64, 48), interlace=True, **options)
    scans = data.count(b"\xff\xda")  # no metadata here, so every one is a scan
    assert scans > 5
    return data, scans


def _after_first(data: bytes, marker: bytes, insert: bytes) -> bytes:
    at = data.index(marker)
    return data[:at] + insert + data[at:]


# What libjpeg puts up with around its markers, each a way to hide scans from a naive count.
_TOLERATED: dict[str, Callable[[bytes], bytes]] = {
    "as made": lambda data: data,
    "junk before a marker": lambda data: _after_first(data, b"\xff\xda", b"\x00junk"),
    "fill bytes before a marker": lambda data: _after_first(data, b"\xff\xc4", b"\xff" * 50),
    "metadata full of scan markers": lambda data: (
        data[:2] + b"\xff\xe1\x0f\xa2" + b"\xff\xda" * 2000 + data[2:]
    ),
    "a second JPEG appended": lambda data: data + data,
}


@pytest.mark.parametrize("restarts", [0, 1], ids=["no restarts", "restart every row"])
@pytest.mark.parametrize("shape", _TOLERATED)
def test_the_scan_limit_counts_the_scans_libjpeg_decodes(shape: str, restarts: int) -> None:
    data, scans = _progressive_jpeg(restart_interval=restarts)
    shaped = _TOLERATED[shape](data)
    # libvips decodes every shape whole, so every scan in it must count.
    assert samples.decode(shaped, fail_on="error").avg() > 0
    error = _fails(shaped, UnsupportedFormat, Limits(max_jpeg_scans=scans - 1))
    assert f"more than {scans - 1} progressive scans" in error.message
    (output,) = process_image(shaped, DEFAULT, Limits(max_jpeg_scans=scans))
    assert samples.decode(output.data).width == 64


def test_too_many_scans_are_refused_before_decoding() -> None:
    data, scans = _progressive_jpeg()
    truncated = data[:-40]  # decoding it would be a corrupt_image
    _fails(truncated, UnsupportedFormat, Limits(max_jpeg_scans=scans - 1))


def test_a_megabyte_of_fill_bytes_before_a_marker_is_read_as_fill() -> None:
    # libjpeg skips them with a warning; a marker search retried at every byte of the run
    # would take most of an hour here.
    data = samples.jpeg(samples.photo(64, 48))
    filled = data[:2] + b"\xff" * 1_000_000 + b"\x00" + data[2:]
    (output,) = process_image(filled, DEFAULT)
    assert samples.decode(output.data).width == 64


def test_a_flood_of_comments_is_not_mistaken_for_scans() -> None:
    data, _ = _progressive_jpeg()
    flooded = data[:2] + b"\xff\xfe\x00\x02" * 2_000_000 + data[2:]  # 8 MB of comments
    (output,) = process_image(flooded, DEFAULT)
    assert samples.decode(output.data).width == 64


def test_scans_after_a_baseline_jpegs_only_scan_are_not_counted() -> None:
    # One interleaved scan holds every component, so libjpeg is done after it and never
    # decodes what follows: the check reads only the header of such a file (baseline photos
    # pay nothing) and must not refuse it for the repeats.
    data = samples.jpeg(samples.photo(64, 48))
    assert data.count(b"\xff\xda") == 1
    scan = data[data.index(b"\xff\xda") : -2]
    repeated = data[:-2] + scan * 600 + data[-2:]
    (output,) = process_image(repeated, DEFAULT)
    assert samples.decode(output.data).width == 64


def _sequential_jpeg_of_scans(components_per_scan: int, scans: int) -> bytes:
    """A real baseline JPEG's header (three components) followed by `scans` scans of
    `components_per_scan` components each, with filler for their data."""
    data = samples.jpeg(samples.photo(64, 48))
    header = data[: data.index(b"\xff\xda")]
    selectors = b"".join(bytes([component, 0x00]) for component in (1, 2, 3)[:components_per_scan])
    body = bytes([components_per_scan]) + selectors + b"\x00\x3f\x00"
    sos = b"\xff\xda" + (len(body) + 2).to_bytes(2, "big") + body
    return header + (sos + b"\x55" * 64) * scans + b"\xff\xd9"


def test_a_sequential_jpeg_scanning_a_component_at_a_time_has_its_scans_counted() -> None:
    # libjpeg reads every scan when the first leaves components out: counted and refused.
    _fails(_sequential_jpeg_of_scans(1, 5), UnsupportedFormat, Limits(max_jpeg_scans=4))
    # With every component in its first scan it stops there: not refused for the rest.
    interleaved = _sequential_jpeg_of_scans(3, 5)
    (output,) = process_image(interleaved, DEFAULT, Limits(max_jpeg_scans=4))
    assert (output.width, output.height) == (64, 48)


def test_string_values_are_accepted_for_enum_fields() -> None:
    variant = Variant(fit="cover", gravity="center", format="jpeg")  # type: ignore[arg-type]
    assert (variant.fit, variant.gravity, variant.format) == ("cover", "centre", "jpg")


def test_an_unexpected_failure_is_a_transient_internal_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", out_of_memory)
    with pytest.raises(InternalError) as raised:
        process_image(samples.png(samples.solid(8, 8)), DEFAULT)
    assert raised.value.code == ErrorCode.INTERNAL_ERROR
    assert not raised.value.permanent
