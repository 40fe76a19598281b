import pytest
import pyvips

from processor.engine import Fit, Gravity, OutputFormat, Variant, process_image
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
