import pytest

from processor.engine import Fit, Size, Variant
from processor.engine.geometry import Geometry, decode_size, jpeg_shrink, plan

SOURCE = Size(4000, 3000)


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        (Variant(), Geometry(resize=Size(4000, 3000))),
        (Variant(width=1200, height=1200), Geometry(resize=Size(1200, 900))),
        (Variant(width=1000), Geometry(resize=Size(1000, 750))),
        (Variant(height=1000), Geometry(resize=Size(1333, 1000))),
        (Variant(width=9000), Geometry(resize=Size(4000, 3000))),
        (Variant(width=8000, enlarge=True), Geometry(resize=Size(8000, 6000))),
        (
            Variant(width=150, height=120, fit=Fit.COVER),
            Geometry(resize=Size(160, 120), crop=Size(150, 120)),
        ),
        (
            # Too large a box shrinks to fit the source, keeping its 2:1 shape.
            Variant(width=8000, height=4000, fit=Fit.COVER),
            Geometry(resize=Size(4000, 3000), crop=Size(4000, 2000)),
        ),
        (Variant(width=500, height=100, fit=Fit.FILL), Geometry(resize=Size(500, 100))),
        (Variant(width=5000, height=100, fit=Fit.FILL), Geometry(resize=Size(4000, 100))),
        (
            Variant(width=800, height=800, fit=Fit.CONTAIN),
            Geometry(resize=Size(800, 600), canvas=Size(800, 800)),
        ),
        (Variant(width=800, fit=Fit.CONTAIN), Geometry(resize=Size(800, 600))),
    ],
)
def test_plan_gives_the_sizes_each_fit_asks_for(variant: Variant, expected: Geometry) -> None:
    assert plan(SOURCE, variant) == expected


def test_several_variants_decode_at_the_largest_one_exactly() -> None:
    variants = [
        Variant("a", 150, 120, fit=Fit.COVER),
        Variant("b", 700, 700),
        Variant("c", 1920, 1080),
        Variant("d", 2500, 2500),
    ]
    assert decode_size(SOURCE, [plan(SOURCE, v) for v in variants]) == Size(2500, 1875)


def test_one_shared_size_is_decoded_to_directly_even_when_enlarging() -> None:
    geometries = [plan(SOURCE, Variant(name, 8000, enlarge=True)) for name in ("a", "b")]
    assert decode_size(SOURCE, geometries) == Size(8000, 6000)


def test_an_enlarging_variant_among_others_decodes_at_source_size() -> None:
    geometries = [plan(SOURCE, Variant("a", 100)), plan(SOURCE, Variant("b", 8000, enlarge=True))]
    assert decode_size(SOURCE, geometries) == SOURCE


def test_a_stretched_variant_is_covered_by_its_larger_axis() -> None:
    geometries = [
        plan(SOURCE, Variant("a", 1000, 100, fit=Fit.FILL)),
        plan(SOURCE, Variant("b", 200)),
    ]
    assert decode_size(SOURCE, geometries) == Size(1000, 750)


@pytest.mark.parametrize(
    ("target", "shrink"),
    [
        (Size(4000, 3000), 1),
        (Size(2001, 1500), 1),
        (Size(2000, 1500), 2),
        (Size(1200, 900), 2),
        (Size(1000, 750), 4),
        (Size(999, 100), 4),
        (Size(500, 375), 8),
        (Size(10, 10), 8),
        (Size(8000, 6000), 1),
    ],
)
def test_jpeg_shrink_is_the_largest_that_still_covers_the_target(target: Size, shrink: int) -> None:
    assert jpeg_shrink(SOURCE, target) == shrink
