"""task_service takes one owner's submissions one at a time, and refuses one that waits too long."""

import asyncio

import pytest

from task_service.tasks import service
from task_service.tasks.errors import SubmissionsQueued


def test_an_owners_submissions_take_turns_and_others_do_not_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "_OWNER_TURN_SECONDS", 5.0)
    turns = service._OwnerTurns()
    order: list[str] = []

    async def submit(owner: str, name: str, seconds: float) -> None:
        async with turns(owner):
            order.append(f"{name} starts")
            await asyncio.sleep(seconds)
            order.append(f"{name} ends")

    async def go() -> None:
        first = asyncio.create_task(submit("shop", "first", 0.2))
        await asyncio.sleep(0.01)
        await asyncio.gather(submit("shop", "second", 0), submit("other", "other", 0), first)

    asyncio.run(go())

    assert order.index("first ends") < order.index("second starts")
    assert order.index("other ends") < order.index("first ends")


def test_a_submission_that_cannot_take_its_turn_in_time_is_refused_as_not_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "_OWNER_TURN_SECONDS", 0.1)
    turns = service._OwnerTurns()
    made: list[str] = []

    async def go() -> None:
        async with turns("shop"):
            with pytest.raises(SubmissionsQueued) as refused:
                async with turns("shop"):
                    made.append("second")
            assert refused.value.status_code == 429
            assert refused.value.headers == {"Retry-After": "5"}
        async with turns("shop"):  # the turn is free again once the holder is done
            made.append("third")

    asyncio.run(go())

    assert made == ["third"]
