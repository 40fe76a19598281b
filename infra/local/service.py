"""One service of the local stack: how to prepare, start, probe and describe it."""

import signal
import socket
from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from infra.local.process import TrackedProcess
from infra.local.settings import StackSettings


class LocalService(ABC):
    name: ClassVar[str]
    # What ends it cleanly; SIGKILL follows after `stop_timeout`.
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    stop_timeout: ClassVar[float] = 30.0

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.process = TrackedProcess(settings.run_dir / f"{self.name}.pid")

    @property
    def state_dir(self) -> Path:
        return self.settings.dir / self.name

    @property
    def log_file(self) -> Path:
        return self.settings.logs_dir / f"{self.name}.log"

    @property
    @abstractmethod
    def address(self) -> str:
        """Where clients reach it, for the status table."""

    @abstractmethod
    def ports(self) -> list[int]:
        """Every port it listens on: all must be free before it starts."""

    def prepare(self) -> None:  # noqa: B027 - most services need no preparation
        """Download, install and initialise what `start` needs; idempotent."""

    @abstractmethod
    def start(self) -> int:
        """Start the process detached and return its pid."""

    @abstractmethod
    def is_ready(self) -> bool:
        """One quick probe of real readiness (it answers its protocol, not just a port)."""

    def on_ready(self) -> None:  # noqa: B027 - most services need nothing after start
        """Idempotent set-up once it answers: buckets, databases."""

    @abstractmethod
    def exports(self) -> dict[str, str]:
        """The `PIXELMILL_` settings that point the services at it."""


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0
