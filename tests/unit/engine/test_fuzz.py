import pytest

from processor.engine import EngineError, Fit, OutputFormat, Variant, process_image
from tests.unit.engine import samples

PHOTO = samples.photo(96, 64, seed=7)
VARIANTS = [Variant("a", 48, 48, fit=Fit.COVER), Variant("b", 32, format=OutputFormat.PNG)]


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("jpeg", samples.jpeg(PHOTO)),
        ("progressive jpeg", samples.jpeg(PHOTO, interlace=True)),
        ("png", samples.png(PHOTO)),
        ("gif", samples.animated_gif([samples.RED, samples.BLUE], size=(40, 30))),
        ("webp", PHOTO.webpsave_buffer()),
    ],
)
def test_damaged_files_only_ever_raise_engine_errors(name: str, source: bytes) -> None:
    outcomes = {"ok": 0, "error": 0}
    for damaged in samples.mutations(source, count=150, seed=len(name)):
        try:
            process_image(damaged, VARIANTS)
            outcomes["ok"] += 1
        except EngineError as error:
            assert error.code != "internal_error", error.message
            outcomes["error"] += 1
    # Both paths ran: some damage is survivable, some is not.
    assert outcomes["error"] > 0
