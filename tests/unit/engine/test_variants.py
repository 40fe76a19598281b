from collections.abc import Callable

import pytest
import pyvips

from processor.engine import Fit, OutputFormat, Variant, process_image
from tests.unit.engine import samples

ECOMMERCE = [
    Variant("thumb", 150, 120, fit=Fit.COVER),
    Variant("card", 700, 700),
    Variant("hd", 1920, 1080),
    Variant("zoom", 2500, 2500, format=OutputFormat.WEBP),
]


def test_several_variants_come_back_in_order_with_their_own_sizes() -> None:
    data = samples.jpeg(samples.photo(4000, 3000))
    outputs = process_image(data, ECOMMERCE)
    assert [(o.variant, o.format, o.width, o.height) for o in outputs] == [
        ("thumb", OutputFormat.JPG, 150, 120),
        ("card", OutputFormat.JPG, 700, 525),
        ("hd", OutputFormat.JPG, 1440, 1080),
        ("zoom", OutputFormat.WEBP, 2500, 1875),
    ]
    for output in outputs:
        image = samples.decode(output.data)
        assert (image.width, image.height) == (output.width, output.height)


def test_the_source_is_decoded_once_for_all_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    decodes: list[tuple[int, int]] = []
    original: Callable[..., pyvips.Image] = pyvips.Image.thumbnail_buffer

    def counting(data: bytes, width: int, **options: object) -> pyvips.Image:
        decodes.append((width, int(options["height"])))  # type: ignore[call-overload]
        return original(data, width, **options)

    monkeypatch.setattr(pyvips.Image, "thumbnail_buffer", counting)
    process_image(samples.png(samples.photo(1000, 800)), ECOMMERCE[:3])
    assert decodes == [(1000, 800)]
    decodes.clear()
    process_image(samples.png(samples.photo(4000, 3000)), ECOMMERCE)
    assert decodes == [(2500, 1875)]


@pytest.mark.parametrize(
    ("variants", "shrink"),
    [
        ([Variant(width=1200, height=1200)], 2),
        ([Variant(width=400)], 8),
        ([Variant(width=3000)], 1),
        (ECOMMERCE, 1),
        (ECOMMERCE[:2], 4),
    ],
)
def test_jpeg_is_decoded_once_shrunk_as_far_as_the_largest_variant_allows(
    monkeypatch: pytest.MonkeyPatch, variants: list[Variant], shrink: int
) -> None:
    loads: list[dict[str, object]] = []
    original: Callable[..., pyvips.Image] = pyvips.Image.new_from_buffer

    def recording(data: bytes, options: str, **kwargs: object) -> pyvips.Image:
        loads.append(kwargs)
        return original(data, options, **kwargs)

    data = samples.jpeg(samples.photo(4000, 3000))
    monkeypatch.setattr(pyvips.Image, "new_from_buffer", recording)
    outputs = process_image(data, variants)
    header, decode = loads
    assert "shrink" not in header
    assert decode["shrink"] == shrink
    assert [o.variant for o in outputs] == [v.name for v in variants]
