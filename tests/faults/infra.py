"""Breaking and restoring services of the shared local stack (`pixelmill stack`).

The stack is shared with everyone working on this machine: whatever a test stops, it starts
again before it ends, and waits until the service answers its own protocol.
"""

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from infra.local import stack
from infra.local.settings import StackSettings

log = logging.getLogger(__name__)

# What the services under test use: Keycloak issues the tokens the gateway verifies.
NEEDED = ("kafka", "postgres", "s3", "keycloak")


def _report(line: str) -> None:
    log.info("stack: %s", line)


def states() -> dict[str, str]:
    return {name: state for name, _, _, state in stack.status(StackSettings())}


def require_up() -> None:
    """Fail (never skip) when a service the suite needs is not up."""
    current = states()
    down = [
        f"{name} ({current.get(name, 'absent')})" for name in NEEDED if current.get(name) != "up"
    ]
    if down:
        pytest.fail(
            f"the local stack is not up: {', '.join(down)}; run `pixelmill stack up`",
            pytrace=False,
        )


def start(name: str) -> float:
    """Start one stack service (a no-op when it runs) and wait until it is ready; seconds."""
    began = time.monotonic()
    stack.up(StackSettings(), _report, [name])
    return time.monotonic() - began


def stop(name: str) -> float:
    """Stop one stack service; seconds it took."""
    began = time.monotonic()
    stack.down(StackSettings(), _report, [name])
    return time.monotonic() - began


@dataclass
class Outage:
    """One service of the stack, stopped until `end()` (or the end of the `with` block)."""

    name: str
    stopped_at: float = 0.0
    ended_at: float | None = None

    def end(self) -> float:
        """Start the service again and wait until it is ready; seconds the start took."""
        took = start(self.name)
        if self.ended_at is None:
            self.ended_at = time.monotonic()
        return took

    @property
    def seconds(self) -> float:
        end = self.ended_at if self.ended_at is not None else time.monotonic()
        return end - self.stopped_at


@contextlib.contextmanager
def outage(name: str) -> Iterator[Outage]:
    """Stop `name`; whatever happens in the block, it runs and is ready again afterwards."""
    stop(name)
    current = Outage(name, stopped_at=time.monotonic())
    try:
        yield current
    finally:
        current.end()
