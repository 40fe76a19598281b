"""The processor's consumer-lag gauge, and that measuring it never stops the worker."""

import asyncio
import time
from dataclasses import dataclass

from prometheus_client import REGISTRY

from processor.app import record_lag
from schemas import topics


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int


class Consumer:
    """What record_lag asks of faust's consumer; `revoked` partitions raise as in a rebalance."""

    def __init__(self, held: dict[Partition, tuple[int, int]], revoked: set[Partition]) -> None:
        self.held = held
        self.revoked = revoked

    def assignment(self) -> set[Partition]:
        return set(self.held)

    async def position(self, tp: Partition) -> int:
        if tp in self.revoked:
            raise RuntimeError(f"partition {tp} is not assigned")
        return self.held[tp][0]

    def highwater(self, tp: Partition) -> int:
        return self.held[tp][1]


def lag(partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "pixelmill_consumer_lag_records", {"partition": str(partition)}
    )


def test_lag_is_the_distance_to_the_high_water_mark_per_jobs_partition() -> None:
    jobs, other = Partition(topics.IMAGE_JOBS, 3), Partition("something-else", 4)
    asyncio.run(record_lag(Consumer({jobs: (10, 25), other: (0, 99)}, set())))
    assert lag(3) == 15
    assert lag(4) is None


def test_a_partition_taken_away_mid_measure_skips_the_round_without_raising() -> None:
    kept, taken = Partition(topics.IMAGE_JOBS, 1), Partition(topics.IMAGE_JOBS, 2)
    asyncio.run(record_lag(Consumer({kept: (5, 7)}, set())))
    assert lag(1) == 2

    asyncio.run(record_lag(Consumer({kept: (5, 9), taken: (0, 1)}, {taken})))

    assert lag(1) == 2  # the last good round stands


def measured_at() -> float | None:
    return REGISTRY.get_sample_value("pixelmill_consumer_lag_measured_timestamp_seconds")


def test_a_measured_round_is_stamped_and_a_skipped_one_is_not() -> None:
    held = Partition(topics.IMAGE_JOBS, 5)
    before = time.time()
    asyncio.run(record_lag(Consumer({held: (1, 2)}, set())))
    stamped = measured_at()
    assert stamped is not None and stamped >= before

    time.sleep(0.01)
    asyncio.run(record_lag(Consumer({held: (1, 2)}, {held})))

    assert measured_at() == stamped
