"""A stopping worker lets a started claim or outcome land before it stops."""

import asyncio

import pytest

from processor.jobs.handler import to_the_end


def test_work_cut_off_by_a_stop_still_finishes_and_the_stop_goes_on() -> None:
    recorded: list[str] = []

    async def record() -> str:
        await asyncio.sleep(0.05)
        recorded.append("outcome")
        return "outcome"

    async def scenario() -> None:
        worker = asyncio.ensure_future(to_the_end(record()))
        await asyncio.sleep(0.01)
        worker.cancel()  # what faust does to its actors on SIGTERM
        with pytest.raises(asyncio.CancelledError):
            await worker
        assert recorded == ["outcome"]

    asyncio.run(scenario())


def test_work_that_ends_undisturbed_returns_its_result() -> None:
    async def record() -> int:
        await asyncio.sleep(0)
        return 7

    assert asyncio.run(to_the_end(record())) == 7
