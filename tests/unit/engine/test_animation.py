import pytest
import pyvips

from processor.engine import Fit, Limits, OutputFormat, TooManyPixels, Variant, process_image
from tests.unit.engine import samples

COLOURS = [samples.RED, samples.GREEN, samples.BLUE, (255, 255, 0)]
GIF = samples.animated_gif(COLOURS)


def _frames(data: bytes) -> list[list[float]]:
    """The colour at the centre of each frame."""
    image = samples.decode(data, n=-1)
    height = image.get("page-height")
    return [
        image.getpoint(image.width // 2, top + height // 2)[:3]
        for top in range(0, image.height, height)
    ]


def _near(values: list[float], colour: tuple[int, int, int]) -> bool:
    return all(abs(v - c) <= 12 for v, c in zip(values, colour, strict=True))


@pytest.mark.parametrize("output_format", [OutputFormat.GIF, OutputFormat.WEBP])
def test_animated_gif_keeps_its_frames_in_formats_that_animate(output_format: OutputFormat) -> None:
    (output,) = process_image(GIF, [Variant(width=60, format=output_format)])
    assert (output.width, output.height, output.frames) == (60, 40, 4)
    image = samples.decode(output.data, n=-1)
    assert image.get("n-pages") == 4
    assert image.get("delay") == [100, 110, 120, 130]
    assert all(_near(f, c) for f, c in zip(_frames(output.data), COLOURS, strict=True))


def test_animated_gif_to_jpeg_is_its_first_frame() -> None:
    (output,) = process_image(GIF, [Variant(width=60, format=OutputFormat.JPG)])
    assert (output.width, output.height, output.frames) == (60, 40, 1)
    image = samples.decode(output.data)
    assert (image.width, image.height) == (60, 40)
    assert _near(image.getpoint(30, 20), samples.RED)


def test_animation_with_no_format_stays_an_animated_gif() -> None:
    (output,) = process_image(GIF, [Variant()])
    assert output.format is OutputFormat.GIF
    assert output.frames == 4


def test_cover_and_contain_apply_to_every_frame() -> None:
    cover, contain = process_image(
        GIF,
        [
            Variant("cover", 50, 50, fit=Fit.COVER, format=OutputFormat.WEBP),
            Variant("contain", 50, 50, fit=Fit.CONTAIN, format=OutputFormat.WEBP),
        ],
    )
    for output in (cover, contain):
        assert (output.width, output.height, output.frames) == (50, 50, 4)
        assert all(_near(f, c) for f, c in zip(_frames(output.data), COLOURS, strict=True))
    # contain's 50 x 33 frames sit on white bands.
    first = samples.decode(contain.data, n=-1)
    assert _near(first.getpoint(25, 2)[:3], (255, 255, 255))


def test_animated_webp_source_keeps_its_frames() -> None:
    (webp,) = process_image(GIF, [Variant(format=OutputFormat.WEBP)])
    (output,) = process_image(webp.data, [Variant(width=30)])
    assert output.format is OutputFormat.WEBP
    assert (output.width, output.height, output.frames) == (30, 20, 4)


def test_the_pixel_limit_counts_every_frame_only_when_they_are_kept() -> None:
    # 120 x 80 x 4 frames = 38400 pixels; one frame is 9600.
    limits = Limits(max_pixels=20_000)
    (still,) = process_image(GIF, [Variant(format=OutputFormat.PNG)], limits)
    assert still.frames == 1
    with pytest.raises(TooManyPixels):
        process_image(GIF, [Variant(format=OutputFormat.GIF)], limits)


def test_an_animation_enlarged_past_the_pixel_limit_is_refused_before_decoding() -> None:
    # 4 frames of 1200 x 800 would be 3.84 megapixels; one frame of it is 0.96.
    limits = Limits(max_pixels=2_000_000)
    big = Variant(width=1200, enlarge=True, format=OutputFormat.GIF)
    with pytest.raises(TooManyPixels, match="4 frames of 1200 x 800"):
        process_image(GIF, [big], limits)
    first_frame = Variant(width=1200, enlarge=True, format=OutputFormat.JPG)
    (still,) = process_image(GIF, [first_frame], limits)
    assert (still.width, still.height, still.frames) == (1200, 800, 1)


def _animated_webp_with_orientation(orientation: int) -> bytes:
    """Three 60 x 40 upright frames (red corner top-left, each its own colour), stored as
    EXIF `orientation` wants them and tagged so: a viewer turns each frame upright."""
    stored = {
        3: lambda im: im.rot("d180"),
        6: lambda im: im.rot("d270"),
        8: lambda im: im.rot("d90"),
    }
    shown = [
        samples.solid(60, 40, colour).draw_rect(list(samples.RED), 0, 0, 12, 8, fill=True)
        for colour in COLOURS[1:]
    ]
    frames = [stored[orientation](frame) for frame in shown]
    strip = pyvips.Image.arrayjoin(frames, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", frames[0].height)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100, 200, 300])
    strip.set_type(pyvips.GValue.gint_type, "orientation", orientation)
    data: bytes = strip.webpsave_buffer(lossless=True)
    return data


@pytest.mark.parametrize("orientation", [3, 6, 8])
@pytest.mark.parametrize("output_format", [OutputFormat.WEBP, OutputFormat.GIF])
def test_an_animation_is_turned_upright_frame_by_frame(
    orientation: int, output_format: OutputFormat
) -> None:
    data = _animated_webp_with_orientation(orientation)
    (output,) = process_image(data, [Variant(width=30, format=output_format)])
    assert (output.width, output.height, output.frames) == (30, 20, 3)
    image = samples.decode(output.data, n=-1)
    assert image.get("delay") == [100, 200, 300]
    for index, colour in enumerate(COLOURS[1:]):
        top = index * 20
        red, green, blue = image.getpoint(2, top + 2)[:3]
        assert red > 200 and green < 60 and blue < 60  # the marked corner, through lossy WebP
        assert _near(image.getpoint(25, top + 15)[:3], colour)
