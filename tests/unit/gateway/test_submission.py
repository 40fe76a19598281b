import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from gateway.settings import Settings
from gateway.tasks.errors import BadSubmission, RequestTimeout
from gateway.tasks.service import _command, submission_from_form, with_idle_timeout
from gateway.tasks.uploads import ReceivedFile, ReceivedForm
from schemas.images import Fit, OutputFormat, SourceFormat
from schemas.tasks import (
    DEFAULT_VARIANT,
    ImageStatus,
    ProcessingParams,
    TaskStatus,
    TaskSubmission,
)


def test_the_go_service_form_makes_one_default_variant() -> None:
    submission = submission_from_form(
        {"width": ["300"], "height": ["200"], "format": ["webp"], "quality": ["70"]}
    )

    (variant,) = submission.params().variants
    assert variant.name == DEFAULT_VARIANT
    assert (variant.width, variant.height, variant.format, variant.quality) == (
        300,
        200,
        OutputFormat.WEBP,
        70,
    )


def test_unknown_form_fields_are_ignored_and_urls_repeat() -> None:
    submission = submission_from_form(
        {"url": ["https://a/1.jpg", "http://b/2.png"], "legacy_flag": ["1"], "width": [""]}
    )
    assert submission.urls == ["https://a/1.jpg", "http://b/2.png"]
    assert submission.width is None


def test_variants_come_as_json() -> None:
    submission = submission_from_form(
        {"variants": ['[{"name":"thumb","width":150,"height":120,"fit":"cover"}]']}
    )
    (thumb,) = submission.params().variants
    assert (thumb.name, thumb.fit) == ("thumb", Fit.COVER)


@pytest.mark.parametrize(
    "fields",
    [
        {"width": ["0"]},
        {"width": ["10001"]},
        {"fit": ["bogus"]},
        {"quality": ["high"]},
        {"variants": ["not json"]},
        {"variants": ['[{"name":"original"}]']},
        {"url": ["ftp://host/a.jpg"]},
        {"callback_url": ["javascript:alert(1)"]},
        # PostgreSQL's text cannot hold NUL: refused here, not a 500 from the database.
        {"ref": ["a\x00b"]},
        {"url": ["https://host/a\x00.jpg"]},
        {"callback_url": ["https://host/hook\x00"]},
        # json.loads gives up on this with a RecursionError.
        {"variants": ["[" * 2000]},
        # JSON `true` is not a size, though lax validation would take it as 1.
        {"variants": ['[{"name":"thumb","width":true}]']},
        {"variants": ['[{"name":"thumb","quality":false}]']},
    ],
)
def test_bad_parameters_are_a_400_with_details(fields: dict[str, list[str]]) -> None:
    with pytest.raises(BadSubmission) as refused:
        submission_from_form(fields)
    assert refused.value.status_code == 400
    assert refused.value.code == "invalid_parameter"


@pytest.mark.parametrize("field", ["width", "height", "quality"])
def test_a_json_boolean_is_not_a_number(field: str) -> None:
    with pytest.raises(ValueError, match="whole number"):
        TaskSubmission.model_validate_json(f'{{"urls": ["https://a/1.jpg"], "{field}": true}}')
    assert getattr(TaskSubmission.model_validate({field: 1}), field) == 1


def test_variant_names_must_be_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        ProcessingParams.model_validate({"variants": [{"name": "a"}, {"name": "a"}]})


def test_go_status_codes() -> None:
    assert [s.status_id for s in ImageStatus] == [1, 1, 1, 2, 3, 3]
    assert [s.status_id for s in TaskStatus] == [1, 1, 2, 3, 3, 3]


def test_a_spooled_file_is_held_back_until_the_spool_uploads_it() -> None:
    in_s3 = ReceivedFile(uuid4(), "a.jpg", "sources/t/a", 10, SourceFormat.JPEG, spooled=False)
    spooled = ReceivedFile(uuid4(), "b.jpg", "sources/t/b", 10, SourceFormat.JPEG, spooled=True)

    command = _command(
        uuid4(), "owner", None, TaskSubmission(), ReceivedForm(files=[in_s3, spooled]), Settings()
    )

    assert [image.source_pending for image in command.images] == [False, True]


def test_a_body_that_stops_arriving_is_refused_with_408() -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b"--boundary\r\n"
        await asyncio.sleep(30)
        yield b"never"

    async def read() -> list[bytes]:
        return [chunk async for chunk in with_idle_timeout(stalls(), 0.1)]

    with pytest.raises(RequestTimeout) as refused:
        asyncio.run(read())
    assert refused.value.status_code == 408
    assert refused.value.code == "request_timeout"


def test_a_body_that_keeps_arriving_is_read_whole() -> None:
    async def slow() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0.05)
            yield part

    async def read() -> list[bytes]:
        return [chunk async for chunk in with_idle_timeout(slow(), 0.5)]

    assert asyncio.run(read()) == [b"a", b"b", b"c"]


@pytest.mark.parametrize(
    "callback",
    [
        "http://",
        "http://a.example:99999/",
        "http://user@a.example/",
        "https://a.example/x\r\nX-Injected: 1",
    ],
)
def test_a_callback_url_that_could_never_be_called_is_refused(callback: str) -> None:
    submission = TaskSubmission(urls=["https://a.example/1.jpg"], callback_url=callback)
    with pytest.raises(BadSubmission, match="callback_url"):
        _command(uuid4(), "shop", None, submission, ReceivedForm(), Settings())


def test_a_callback_url_scheme_is_case_insensitive() -> None:
    submission = TaskSubmission(
        urls=["https://a.example/1.jpg"], callback_url="HTTPS://a.example/h"
    )
    command = _command(uuid4(), "shop", None, submission, ReceivedForm(), Settings())
    assert command.callback_url == "HTTPS://a.example/h"
