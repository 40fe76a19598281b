import pytest
import pyvips

from processor.engine import (
    Fit,
    Gravity,
    Limits,
    OutputFormat,
    TooManyPixels,
    Variant,
    process_image,
)
from tests.unit.engine import samples

SOURCE = samples.png(samples.solid(400, 300, samples.GREEN))


def _size(variant: Variant) -> tuple[int, int]:
    (output,) = process_image(SOURCE, [variant])
    decoded = samples.decode(output.data)
    assert (decoded.width, decoded.height) == (output.width, output.height)
    return output.width, output.height


@pytest.mark.parametrize(
    ("width", "height", "fit", "enlarge", "expected"),
    [
        (200, 200, Fit.INSIDE, False, (200, 150)),
        (800, 800, Fit.INSIDE, False, (400, 300)),
        (800, 800, Fit.INSIDE, True, (800, 600)),
        (200, 200, Fit.COVER, False, (200, 200)),
        (800, 800, Fit.COVER, False, (300, 300)),
        (800, 800, Fit.COVER, True, (800, 800)),
        (200, 100, Fit.FILL, False, (200, 100)),
        (800, 100, Fit.FILL, False, (400, 100)),
        (800, 100, Fit.FILL, True, (800, 100)),
        (200, 200, Fit.CONTAIN, False, (200, 200)),
        (800, 800, Fit.CONTAIN, False, (800, 800)),
        (800, 800, Fit.CONTAIN, True, (800, 800)),
    ],
)
def test_fit_output_size(
    width: int, height: int, fit: Fit, enlarge: bool, expected: tuple[int, int]
) -> None:
    assert _size(Variant(width=width, height=height, fit=fit, enlarge=enlarge)) == expected


@pytest.mark.parametrize(
    ("width", "height", "enlarge", "expected"),
    [
        (100, None, False, (100, 75)),
        (None, 150, False, (200, 150)),
        (800, None, False, (400, 300)),
        (800, None, True, (800, 600)),
        (None, 600, True, (800, 600)),
        (None, None, False, (400, 300)),
        (None, None, True, (400, 300)),
    ],
)
def test_one_side_scales_keeping_aspect_and_none_keeps_size(
    width: int | None, height: int | None, enlarge: bool, expected: tuple[int, int]
) -> None:
    assert _size(Variant(width=width, height=height, enlarge=enlarge)) == expected


def test_contain_pads_with_the_background_and_does_not_enlarge() -> None:
    variant = Variant(
        width=800, height=800, fit=Fit.CONTAIN, format=OutputFormat.PNG, background=(10, 20, 30)
    )
    (output,) = process_image(SOURCE, [variant])
    assert samples.pixel(output.data, 400, 10) == [10, 20, 30]
    assert samples.pixel(output.data, 400, 400) == list(samples.GREEN)
    # The 400 x 300 picture sits unscaled in the middle: rows 250..549.
    assert samples.pixel(output.data, 400, 249) == [10, 20, 30]
    assert samples.pixel(output.data, 400, 250) == list(samples.GREEN)


def test_contain_pads_with_white_by_default() -> None:
    (output,) = process_image(
        SOURCE, [Variant(width=200, height=200, fit=Fit.CONTAIN, format=OutputFormat.PNG)]
    )
    assert samples.pixel(output.data, 100, 2) == [255, 255, 255]


def test_smart_cover_keeps_the_busy_part_that_centre_crops_away() -> None:
    # Flat grey with a high-contrast checkerboard on the rightmost quarter.
    checker = (pyvips.Image.xyz(100, 200) // 10 % 2).extract_band(0) * 255
    busy = checker.bandjoin([checker, 255 - checker]).cast("uchar").copy(interpretation="srgb")
    data = samples.png(samples.solid(400, 200, (128, 128, 128)).insert(busy, 300, 0))

    def cover(gravity: Gravity) -> bytes:
        variant = Variant(
            width=200, height=200, fit=Fit.COVER, gravity=gravity, format=OutputFormat.PNG
        )
        (output,) = process_image(data, [variant])
        assert (output.width, output.height) == (200, 200)
        return output.data

    assert samples.decode(cover(Gravity.CENTRE)).deviate() < 1
    assert samples.decode(cover(Gravity.SMART)).deviate() > 50


@pytest.mark.parametrize(
    ("fit", "largest"),
    # cover scales the whole frame to 3000 x 2000 before it crops the box out of it.
    [(Fit.FILL, "2000 x 2000"), (Fit.COVER, "3000 x 2000"), (Fit.CONTAIN, "2000 x 2000")],
)
def test_an_output_past_the_pixel_limit_is_refused_whatever_the_fit(fit: Fit, largest: str) -> None:
    # A 30 x 20 source made 4 megapixels by enlarging: over a 1 megapixel limit.
    source = samples.png(samples.solid(30, 20))
    variant = Variant(width=2000, height=2000, fit=fit, enlarge=True)
    with pytest.raises(TooManyPixels, match=largest):
        process_image(source, [variant], Limits(max_pixels=1_000_000))


def test_cover_is_held_to_the_limit_by_the_frame_it_scales_not_only_the_box_it_keeps() -> None:
    # A 100 x 2 strip covering a 1000 x 1000 box (exactly the limit) is first scaled to
    # 50000 x 1000: fifty times the limit, for a few hundred bytes of PNG.
    source = samples.png(samples.solid(100, 2))
    variant = Variant(width=1000, height=1000, fit=Fit.COVER, enlarge=True)
    with pytest.raises(TooManyPixels, match="50000 x 1000"):
        process_image(source, [variant], Limits(max_pixels=1_000_000))


def test_the_variants_together_are_held_to_four_times_the_pixel_limit() -> None:
    source = samples.png(samples.solid(30, 20))
    full = [Variant(name=f"v{i}", width=600, height=400, enlarge=True) for i in range(5)]
    limits = Limits(max_pixels=250_000)
    # Each makes 240,000 pixels: four fit in 1,000,000, a fifth passes it.
    assert len(process_image(source, full[:4], limits)) == 4
    with pytest.raises(TooManyPixels, match=r"5 variants together would be 1\.2 megapixels"):
        process_image(source, full, limits)


def test_an_output_at_the_pixel_limit_is_made() -> None:
    source = samples.png(samples.solid(30, 20))
    variant = Variant(width=1000, height=1000, fit=Fit.FILL, enlarge=True)
    (output,) = process_image(source, [variant], Limits(max_pixels=1_000_000))
    assert (output.width, output.height) == (1000, 1000)
