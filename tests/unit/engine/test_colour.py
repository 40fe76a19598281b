import pytest
import pyvips

from processor.engine import OutputFormat, Variant, icc, process_image
from tests.unit.engine import samples


def _single(data: bytes, **options: object) -> tuple[pyvips.Image, bytes]:
    (output,) = process_image(data, [Variant(**options)])  # type: ignore[arg-type]
    return samples.decode(output.data), output.data


def _close(values: list[float], expected: tuple[int, ...], tolerance: int = 6) -> bool:
    return len(values) == len(expected) and all(
        abs(value - want) <= tolerance for value, want in zip(values, expected, strict=True)
    )


def test_cmyk_jpeg_comes_out_as_srgb() -> None:
    data = samples.cmyk_jpeg(300, 200, (0, 255, 255, 0))
    assert samples.decode(data).interpretation == "cmyk"
    image, _ = _single(data, width=100, format=OutputFormat.JPG)
    assert image.interpretation == "srgb"
    assert image.bands == 3
    red, green, blue = image.getpoint(50, 30)
    assert red > 180
    assert green < 90
    assert blue < 90


def test_16_bit_png_comes_out_8_bit_with_the_same_colour() -> None:
    channel = (pyvips.Image.black(80, 60) + 65535).cast("ushort")
    half = (pyvips.Image.black(80, 60) + 32768).cast("ushort")
    zero = pyvips.Image.black(80, 60).cast("ushort")
    data = samples.png(channel.bandjoin([half, zero]).copy(interpretation="rgb16"))
    assert samples.decode(data).format == "ushort"
    image, _ = _single(data, format=OutputFormat.PNG)
    assert image.format == "uchar"
    assert image.interpretation == "srgb"
    assert _close(image.getpoint(10, 10), (255, 128, 0), tolerance=1)


def test_grey_png_comes_out_as_srgb_grey() -> None:
    data = samples.png(samples.solid(80, 60, (128,)))
    image, _ = _single(data, format=OutputFormat.PNG)
    assert image.bands == 3
    assert image.getpoint(5, 5) == [128, 128, 128]


def test_grey_with_alpha_keeps_alpha_in_png_and_flattens_on_white_in_jpeg() -> None:
    data = samples.png(samples.solid(80, 60, (0, 128)))
    as_png, _ = _single(data, format=OutputFormat.PNG)
    assert as_png.bands == 4
    assert as_png.getpoint(5, 5) == [0, 0, 0, 128]
    as_jpeg, _ = _single(data, format=OutputFormat.JPG)
    assert as_jpeg.bands == 3
    # Black at half opacity on white is mid grey.
    assert _close(as_jpeg.getpoint(5, 5), (127, 127, 127), tolerance=3)


def test_palette_png_keeps_its_transparency() -> None:
    data = samples.palette_png_with_transparency(80, 60)
    image, _ = _single(data, format=OutputFormat.PNG)
    assert image.bands == 4
    assert image.getpoint(10, 10)[3] == 0
    assert image.getpoint(70, 10) == [0, 0, 255, 255]


def test_alpha_is_flattened_on_the_background_in_jpeg() -> None:
    transparent = samples.solid(40, 60, (255, 0, 0, 0))
    opaque = samples.solid(40, 60, (255, 0, 0, 255))
    data = samples.png(transparent.join(opaque, "horizontal"))
    on_blue, _ = _single(data, format=OutputFormat.JPG, background=(0, 0, 255))
    assert on_blue.bands == 3
    assert _close(on_blue.getpoint(10, 30), samples.BLUE)
    assert _close(on_blue.getpoint(70, 30), samples.RED)
    on_default, _ = _single(data, format=OutputFormat.JPG)
    assert _close(on_default.getpoint(10, 30), (255, 255, 255))


def test_alpha_is_kept_for_formats_that_have_it() -> None:
    data = samples.png(samples.solid(40, 40, (255, 0, 0, 0)))
    for output_format in (OutputFormat.PNG, OutputFormat.WEBP, OutputFormat.AVIF):
        image, _ = _single(data, format=output_format)
        assert image.bands == 4
        assert image.getpoint(5, 5)[3] == 0


def _tiff_with_extra_band(colour: pyvips.Image, interpretation: str) -> bytes:
    # Alpha (half the picture transparent) and then a spot channel, as image editors save.
    alpha = samples.solid(colour.width, colour.height, (0,)).join(
        samples.solid(colour.width, colour.height, (255,)), "horizontal"
    )
    spot = samples.solid(alpha.width, alpha.height, (128,))
    doubled = colour.join(colour, "horizontal")
    image = doubled.bandjoin([alpha, spot]).copy(interpretation=interpretation)
    data: bytes = image.tiffsave_buffer()
    return data


@pytest.mark.parametrize(
    ("colour", "interpretation", "tolerance"),
    [(samples.RED, "srgb", 6), ((0, 255, 255, 0), "cmyk", 50)],
    ids=["rgb", "cmyk"],
)
def test_bands_past_colour_and_alpha_are_dropped_keeping_the_alpha(
    colour: tuple[int, ...], interpretation: str, tolerance: int
) -> None:
    # Full magenta and yellow ink is red, a little off through the CMYK profile.
    data = _tiff_with_extra_band(samples.solid(30, 40, colour), interpretation)
    on_blue, _ = _single(data, format=OutputFormat.JPG, background=(0, 0, 255))
    assert on_blue.bands == 3
    assert _close(on_blue.getpoint(5, 20), samples.BLUE)
    assert _close(on_blue.getpoint(45, 20), samples.RED, tolerance)
    boxed, _ = _single(data, width=80, height=80, fit="contain", format=OutputFormat.PNG)
    assert (boxed.width, boxed.height, boxed.bands) == (80, 80, 4)
    # 60 x 40 centred on 80 x 80: the transparent half starts at x 10.
    assert boxed.getpoint(15, 40)[3] == 0 and boxed.getpoint(60, 40)[3] == 255


def _tagged(profile: str) -> pyvips.Image:
    """A sea green in sRGB, converted into `profile`'s space with that profile attached."""
    image = samples.solid(64, 64, (40, 160, 90))
    converted: pyvips.Image = image.icc_transform(profile, input_profile="srgb")
    return converted


@pytest.mark.parametrize("profile", ["p3", "srgb"])
@pytest.mark.parametrize("container", ["jpeg", "png"])
def test_pixels_in_an_embedded_rgb_profile_come_out_as_the_same_colour_in_srgb(
    profile: str, container: str
) -> None:
    # Display P3 is what phones attach; sea green in P3 numbers is (80, 158, 98).
    tagged = _tagged(profile)
    data = (
        tagged.jpegsave_buffer(Q=98, keep="all")
        if container == "jpeg"
        else (tagged.pngsave_buffer(keep="all"))
    )
    image, _ = _single(data, width=32, format=OutputFormat.PNG)
    assert _close(image.getpoint(5, 5), (40, 160, 90), tolerance=3)


def test_only_rgb_profiles_other_than_srgb_need_converting() -> None:
    profile_of = {name: _tagged(name).get("icc-profile-data") for name in ("srgb", "p3")}
    assert not icc.needs_conversion(profile_of["srgb"])
    assert icc.needs_conversion(profile_of["p3"])
    # The same colorants under a CMYK header: the decoders convert CMYK themselves.
    p3 = profile_of["p3"]
    assert not icc.needs_conversion(p3[:16] + b"CMYK" + p3[20:])
    for broken in (b"", profile_of["p3"][:140], profile_of["p3"][:20] + b"\xff" * 200):
        assert not icc.needs_conversion(broken)
