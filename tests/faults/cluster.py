"""The services under test, with processors that tests kill, stop and replace.

`Cluster` wraps the e2e harness's `Stack`: `stack.processors` is always the live replicas,
the ones a test killed or stopped move to `retired` (their logs stay in failure reports).
"""

import contextlib
import functools
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from tests.e2e.services import Service, Stack, consumer_state

# A processor: started, in the consumer group and holding partitions.
PROCESSOR_START_SECONDS = 90


@dataclass
class Cluster:
    stack: Stack
    make_processor: Callable[[], Service]
    replicas: int
    retired: list[Service] = field(default_factory=list)

    @property
    def processors(self) -> list[Service]:
        return self.stack.processors

    def tails(self) -> str:
        retired = "\n\n".join(service.tail() for service in self.retired)
        return self.stack.tails() + (f"\n\n{retired}" if retired else "")

    def launch_processor(self) -> Service:
        """One more replica, started; it joins the group on its own."""
        processor = self.make_processor()
        processor.start()
        self.processors.append(processor)
        return processor

    def start_processor(self) -> Service:
        """One more replica, waited for until the whole group holds partitions again."""
        processor = self.launch_processor()
        deadline = time.monotonic() + PROCESSOR_START_SECONDS
        self.stack.wait_until(processor.healthy, deadline, f"{processor.name} answering /healthz")
        self.wait_group_settled(deadline)
        return processor

    def wait_group_settled(self, deadline: float) -> None:
        self.stack.wait_until(
            self.stack.group_settled,
            deadline,
            lambda: f"the processors' group to settle: {self._states()}",
        )

    def _states(self) -> dict[str, int | None]:
        return {
            p.name: consumer_state(p.log_text(), self.stack.processor_group)
            for p in self.processors
        }

    def kill(self, processor: Service) -> None:
        """SIGKILL: no clean-up of any kind, as when a machine dies."""
        assert processor.process is not None
        processor.process.send_signal(signal.SIGKILL)
        processor.process.wait(timeout=10)
        self._retire(processor)

    def terminate(self, processor: Service, timeout: float) -> tuple[int | None, float]:
        """SIGTERM; the exit code (None if still running at `timeout`) and seconds to exit.

        A processor still running at `timeout` is killed: a later test needs the slot.
        """
        assert processor.process is not None
        began = time.monotonic()
        processor.process.send_signal(signal.SIGTERM)
        code: int | None
        try:
            code = processor.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            code = None
        took = time.monotonic() - began
        self._retire(processor)
        return code, took

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """SIGSTOP every live processor for the block, SIGCONT after it.

        What a test does in the block happens between two images, however fast this machine
        works through a batch; the processors notice nothing but a gap in time.
        """
        held = [p.process for p in self.processors if p.process is not None]
        for process in held:
            process.send_signal(signal.SIGSTOP)
        try:
            yield
        finally:
            for process in held:
                process.send_signal(signal.SIGCONT)

    def _retire(self, processor: Service) -> None:
        processor.wait_stopped(1)  # SIGKILL if it still runs; closes its log file
        if processor in self.processors:
            self.processors.remove(processor)
        self.retired.append(processor)

    def restore(self) -> None:
        """Back to `replicas` live processors in one settled group, every service ready."""
        for processor in [p for p in self.processors if p.exit_code() is not None]:
            self._retire(processor)
        while len(self.processors) < self.replicas:
            self.start_processor()
        deadline = time.monotonic() + PROCESSOR_START_SECONDS
        self.wait_group_settled(deadline)
        self.wait_ready(deadline)

    def wait_ready(self, deadline: float) -> None:
        """Every service answers /readyz: its PostgreSQL, Kafka and S3 are back for it."""
        for service in self.stack.services:
            self.stack.wait_until(
                functools.partial(_ready, service), deadline, f"{service.name} answering /readyz"
            )

    def pids(self) -> dict[str, int]:
        return {service.name: service.pid for service in self.stack.services}


def _ready(service: Service) -> bool:
    try:
        response = httpx.get(f"{service.url}/readyz", timeout=5)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
