import io

import pytest
from PIL import Image as PILImage
from PIL import ImageOps

from processor.engine import OutputFormat, Variant, probe, process_image
from tests.unit.engine import samples

UPRIGHT = samples.marked(60, 40)


def _is_red(values: list[float]) -> bool:
    red, green, blue = values[:3]
    return red > 200 and green < 80 and blue < 80


def _pillow_pixel(image: PILImage.Image, x: int, y: int) -> list[float]:
    value = image.getpixel((x, y))
    assert isinstance(value, tuple)
    return [float(v) for v in value]


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_and_the_marked_corner_ends_top_left(orientation: int) -> None:
    data = samples.with_orientation(UPRIGHT, orientation)
    # Pillow, independently of libvips, agrees that the file shows the marked picture.
    shown = ImageOps.exif_transpose(PILImage.open(io.BytesIO(data)))
    assert shown.size == (60, 40)
    assert _is_red(_pillow_pixel(shown, 3, 3))
    assert not _is_red(_pillow_pixel(shown, 56, 36))
    assert probe(data).width == 60
    assert probe(data).height == 40

    (output,) = process_image(data, [Variant(format=OutputFormat.PNG)])

    assert (output.width, output.height) == (60, 40)
    assert _is_red(samples.pixel(output.data, 3, 3))
    for x, y in ((56, 3), (3, 36), (56, 36)):
        assert not _is_red(samples.pixel(output.data, x, y))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_sizes_apply_to_the_upright_picture(orientation: int) -> None:
    data = samples.with_orientation(UPRIGHT, orientation)
    (output,) = process_image(data, [Variant(width=30, format=OutputFormat.PNG)])
    assert (output.width, output.height) == (30, 20)
    assert _is_red(samples.pixel(output.data, 2, 2))
    assert not samples.decode(output.data).get_typeof("orientation")
