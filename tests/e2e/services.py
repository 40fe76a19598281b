"""pixelmill's services as real processes: started on free ports, watched, stopped.

Each service runs as `python -m common.cli serve NAME` with its output in a log file; a
service that dies or never answers fails the run with the tail of its log.
"""

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
import pytest

from tests.harness.kafka import group_is_stable

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
POLL_SECONDS = 0.2
LOG_TAIL_LINES = 60

# faust (aiokafka) logs these as a consumer joins its group and takes partitions.
_JOINED = re.compile(r"Joined group '(?P<group>[^']+)' \(generation (?P<generation>\d+)\)")
_ASSIGNED = "Setting newly assigned partitions"
_READY = "[^Worker]: Ready"


@dataclass
class Service:
    name: str
    command: str
    port: int
    env: Mapping[str, str]
    log_path: Path
    process: "subprocess.Popen[bytes] | None" = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def start(self) -> None:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "common.cli", "serve", self.command],
            cwd=REPO,
            env=dict(self.env),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = LOG_TAIL_LINES) -> str:
        text = "\n".join(self.log_text().splitlines()[-lines:])
        state = "running" if self.exit_code() is None else f"exited with {self.exit_code()}"
        pid = self.process.pid if self.process is not None else None
        return f"----- {self.name} (pid {pid}, {state}) {self.log_path} -----\n{text}"

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/healthz", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        """Wait for the exit SIGTERM asked for; SIGKILL after `timeout`."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(timeout, 0.1))
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM for %.0f s; killing it", self.name, timeout)
            self.process.kill()
            self.process.wait(timeout=10)
        finally:
            if self._log is not None:
                self._log.close()


@dataclass
class Stack:
    """The services of one test session and what they were configured with."""

    owner: str
    processor_group: str
    gateway: Service
    task_service: Service
    processors: list[Service]
    max_file_bytes: int

    @property
    def services(self) -> list[Service]:
        return [self.task_service, self.gateway, *self.processors]

    def tails(self) -> str:
        return "\n\n".join(service.tail() for service in self.services)

    def check_alive(self) -> None:
        dead = [s for s in self.services if s.exit_code() is not None]
        if dead:
            names = ", ".join(f"{s.name} (exit {s.exit_code()})" for s in dead)
            pytest.fail(f"service died: {names}\n\n{self.tails()}", pytrace=False)

    def start(self, timeout: float) -> None:
        for service in self.services:
            service.start()
        deadline = time.monotonic() + timeout
        for service in self.services:
            self.wait_until(service.healthy, deadline, f"{service.name} answering /healthz")
        self.wait_until(self.group_settled, deadline, "the processors sharing the jobs topic")

    def stop(self, timeout: float = 30) -> None:
        # The gateway first (no new work), then the workers, task_service last.
        order = [self.gateway, *self.processors, self.task_service]
        for service in order:
            service.terminate()
        deadline = time.monotonic() + timeout
        for service in order:
            service.wait_stopped(deadline - time.monotonic())

    def wait_until(
        self, condition: Callable[[], bool], deadline: float, what: str | Callable[[], str]
    ) -> None:
        """Poll `condition` until it holds; fail with the services' logs at the deadline.

        `what` names the awaited condition, or computes its description when it fails.
        """
        while True:
            self.check_alive()
            if condition():
                return
            if time.monotonic() > deadline:
                described = what if isinstance(what, str) else what()
                pytest.fail(f"timed out waiting for {described}\n\n{self.tails()}", pytrace=False)
            time.sleep(POLL_SECONDS)

    def group_settled(self) -> bool:
        """Every processor is ready and holds partitions of one and the same generation, and
        Kafka sees the group stable with all of them."""
        generations = set()
        for processor in self.processors:
            state = consumer_state(processor.log_text(), self.processor_group)
            if state is None:
                return False
            generations.add(state)
        return len(generations) == 1 and group_is_stable(self.processor_group, len(self.processors))


def consumer_state(log: str, group: str) -> int | None:
    """The group generation a faust worker last took partitions in, once it is ready."""
    if _READY not in log:
        return None
    joins = [m for m in _JOINED.finditer(log) if m.group("group") == group]
    if not joins:
        return None
    last = joins[-1]
    after = log[last.end() :]
    if _ASSIGNED not in after or "pixelmill.image-jobs" not in after:
        return None
    return int(last.group("generation"))


def base_environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment (so a non-default stack is honoured) plus the session's."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", **overrides}
