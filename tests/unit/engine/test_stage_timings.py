import pyvips

from processor.engine import OutputFormat, Variant, process_image


def test_each_stage_is_reported_decode_once_then_transform_and_encode_per_variant() -> None:
    source = pyvips.Image.black(320, 240).add(90).cast("uchar").jpegsave_buffer()
    stages: list[tuple[str, float]] = []

    process_image(
        source,
        [Variant(name="a", width=100), Variant(name="b", width=50, format=OutputFormat.PNG)],
        on_stage=lambda stage, seconds: stages.append((stage, seconds)),
    )

    assert [stage for stage, _ in stages] == [
        "decode",
        "transform",
        "encode",
        "transform",
        "encode",
    ]
    assert all(seconds >= 0 for _, seconds in stages)
