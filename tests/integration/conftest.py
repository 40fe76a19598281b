"""Integration tests run against the real local stack (`pixelmill stack up`).

They never skip: a service that is not up fails the run, naming the service.
"""

import pytest

from infra.local import stack
from infra.local.settings import StackSettings


@pytest.fixture(scope="session", autouse=True)
def local_stack() -> None:
    down = [
        f"{name} ({state})" for name, _, _, state in stack.status(StackSettings()) if state != "up"
    ]
    if down:
        pytest.fail(
            f"the local stack is not up: {', '.join(down)}; run `pixelmill stack up`",
            pytrace=False,
        )
