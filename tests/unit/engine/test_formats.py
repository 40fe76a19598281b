import pytest
import pyvips

from processor.engine import (
    Limits,
    OutputFormat,
    SourceFormat,
    UnsupportedFormat,
    Variant,
    probe,
    process_image,
)
from tests.unit.engine import samples

PHOTO = samples.photo(640, 480)


def test_progressive_jpeg_is_read() -> None:
    data = samples.jpeg(PHOTO, interlace=True)
    assert b"\xff\xc2" in data  # SOF2: progressive DCT
    (output,) = process_image(data, [Variant(width=320)])
    assert output.format is OutputFormat.JPG
    assert (output.width, output.height) == (320, 240)
    assert samples.decode(output.data).get("vips-loader") == "jpegload_buffer"


def test_avif_input_is_read_and_kept_as_avif() -> None:
    data = samples.solid(200, 100, samples.RED).heifsave_buffer(compression="av1", Q=90)
    assert probe(data).format is SourceFormat.AVIF
    outputs = process_image(
        data, [Variant("same", width=100), Variant("jpg", format=OutputFormat.JPG)]
    )
    assert [o.format for o in outputs] == [OutputFormat.AVIF, OutputFormat.JPG]
    assert (outputs[0].width, outputs[0].height) == (100, 50)
    red, green, blue = samples.pixel(outputs[1].data, 100, 50)
    assert red > 200
    assert green < 60
    assert blue < 60


def test_heic_with_hevc_pixels_is_unsupported_in_a_build_without_hevc() -> None:
    data = samples.hevc_heic()
    info = probe(data)
    assert info.format is SourceFormat.HEIC
    assert (info.width, info.height) == (64, 64)
    with pytest.raises(UnsupportedFormat, match="HEVC"):
        process_image(data, [Variant(width=32)])


@pytest.mark.parametrize("output_format", list(OutputFormat))
def test_each_output_format_is_written_as_itself(output_format: OutputFormat) -> None:
    (output,) = process_image(samples.png(PHOTO), [Variant(width=64, format=output_format)])
    loader = samples.decode(output.data).get("vips-loader")
    expected = {"jpg": "jpeg", "avif": "heif"}.get(output_format, output_format)
    assert loader == f"{expected}load_buffer"
    assert output.format is output_format


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (samples.jpeg(PHOTO), OutputFormat.JPG),
        (samples.png(PHOTO), OutputFormat.PNG),
        (PHOTO.webpsave_buffer(), OutputFormat.WEBP),
        (PHOTO.gifsave_buffer(), OutputFormat.GIF),
        (PHOTO.tiffsave_buffer(), OutputFormat.JPG),
        (samples.solid(8, 8, (1, 2, 3, 0)).tiffsave_buffer(), OutputFormat.PNG),
    ],
)
def test_no_format_keeps_the_source_format_or_maps_it(
    source: bytes, expected: OutputFormat
) -> None:
    (output,) = process_image(source, [Variant(width=32)])
    assert output.format is expected


@pytest.mark.parametrize("output_format", [OutputFormat.JPG, OutputFormat.WEBP, OutputFormat.AVIF])
def test_quality_changes_the_size_of_lossy_output(output_format: OutputFormat) -> None:
    data = samples.jpeg(PHOTO)
    low, high = process_image(
        data,
        [
            Variant("low", format=output_format, quality=20),
            Variant("high", format=output_format, quality=95),
        ],
    )
    assert len(low.data) * 1.5 < len(high.data)


def test_png_ignores_quality() -> None:
    data = samples.jpeg(PHOTO)
    low, high = process_image(
        data,
        [
            Variant("low", format=OutputFormat.PNG, quality=5),
            Variant("high", format=OutputFormat.PNG, quality=95),
        ],
    )
    assert low.data == high.data


def test_metadata_is_stripped() -> None:
    source = PHOTO.copy()
    source.set_type(pyvips.GValue.gstr_type, "exif-ifd0-Artist", "Someone Private")
    source.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>secret</x:xmpmeta>")
    data = samples.jpeg(source)
    assert b"Someone Private" in data
    assert b"secret" in data
    for output_format in OutputFormat:
        (output,) = process_image(data, [Variant(width=100, format=output_format)])
        image = samples.decode(output.data)
        assert not image.get_typeof("exif-data")
        assert not image.get_typeof("xmp-data")
        assert not image.get_typeof("icc-profile-data")
        assert b"Someone Private" not in output.data
        assert b"secret" not in output.data


def test_svg_is_read_when_allowed() -> None:
    (output,) = process_image(samples.SVG, [Variant(width=100)], Limits(allow_svg=True))
    assert output.format is OutputFormat.PNG
    assert (output.width, output.height) == (100, 50)
    assert samples.pixel(output.data, 50, 25) == [255, 0, 0, 255]
