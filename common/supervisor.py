"""`pixelmill run`: the four services as child processes, their output prefixed by name."""

import selectors
import signal
import subprocess
import sys
from types import FrameType

from common import dev

_STOP_TIMEOUT_SECONDS = 15


def token_help() -> str:
    """How to call the API from a shell: printed by `pixelmill run`."""
    token_url = (
        f"http://{dev.HOST}:{dev.KEYCLOAK_PORT}/realms/{dev.KEYCLOAK_REALM}"
        "/protocol/openid-connect/token"
    )
    return f"""pixelmill is starting: API http://{dev.HOST}:{dev.GATEWAY_PORT}, docs /docs

A token for the demo user (role user):
  TOKEN=$(curl -s http://{dev.HOST}:{dev.GATEWAY_PORT}/api/v1/user/login \\
    -H 'Content-Type: application/json' \\
    -d '{{"username": "{dev.KEYCLOAK_DEMO_USER}", "password": "{dev.KEYCLOAK_DEMO_PASSWORD}"}}' \\
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
A token for the example shop backend (client credentials):
  TOKEN=$(curl -s {token_url} \\
    -d grant_type=client_credentials -d client_id={dev.KEYCLOAK_SHOP_CLIENT_ID} \\
    -d client_secret={dev.KEYCLOAK_SHOP_CLIENT_SECRET} \\
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
Then: curl -H "Authorization: Bearer $TOKEN" http://{dev.HOST}:{dev.GATEWAY_PORT}/api/v1/task
"""


def run_services(names: list[str]) -> int:
    print(token_help(), flush=True)
    children = {
        name: subprocess.Popen(
            [sys.executable, "-m", "common.cli", "serve", name],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for name in names
    }
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    selector = selectors.DefaultSelector()
    for name, child in children.items():
        assert child.stdout is not None
        selector.register(child.stdout, selectors.EVENT_READ, name)
    width = max(map(len, names))
    exit_code = 0
    while not stopping:
        for key, _ in selector.select(timeout=0.5):
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if line:
                sys.stdout.write(f"{key.data:<{width}} | {line.decode(errors='replace')}")
                sys.stdout.flush()
        dead = [name for name, child in children.items() if child.poll() is not None]
        if dead:
            print(f"pixelmill run: {', '.join(dead)} exited; stopping the others", file=sys.stderr)
            exit_code = 1
            break

    for child in children.values():
        if child.poll() is None:
            child.terminate()
    for child in children.values():
        try:
            child.wait(_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code
