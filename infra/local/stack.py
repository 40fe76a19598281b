"""`pixelmill stack up|down|status|env`: the four services together."""

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from infra.local.errors import StackError
from infra.local.process import tail
from infra.local.service import LocalService, port_is_open
from infra.local.services.kafka import Kafka
from infra.local.services.keycloak import Keycloak
from infra.local.services.postgres import Postgres
from infra.local.services.prometheus import Prometheus
from infra.local.services.seaweedfs import SeaweedFS
from infra.local.settings import StackSettings

Report = Callable[[str], None]


# Keycloak first: it is the slowest to prepare and to start.
_SERVICE_CLASSES: tuple[type[LocalService], ...] = (Keycloak, Kafka, Postgres, SeaweedFS)
# Started only when asked for (`up --with-prometheus`, or by name); otherwise they are part
# of the stack while they run, so that `down` stops them and `status` shows them.
_OPTIONAL_CLASSES: tuple[type[LocalService], ...] = (Prometheus,)
SERVICE_NAMES = tuple(c.name for c in (*_SERVICE_CLASSES, *_OPTIONAL_CLASSES))


def services(
    settings: StackSettings, only: list[str] | None = None, *, optional: bool = False
) -> list[LocalService]:
    """The stack's services, or those named in `only` (a name not in the stack is an error).

    Optional services count when named, when `optional` is set, or while they run.
    """
    every = [service_class(settings) for service_class in (*_SERVICE_CLASSES, *_OPTIONAL_CLASSES)]
    optional_names = {service_class.name for service_class in _OPTIONAL_CLASSES}
    if not only:
        return [
            service
            for service in every
            if optional or service.name not in optional_names or service.process.pid() is not None
        ]
    known = {service.name for service in every}
    unknown = sorted(set(only) - known)
    if unknown:
        raise StackError(
            ", ".join(unknown), f"no such service; the stack has {', '.join(sorted(known))}"
        )
    wanted = set(only) | (optional_names if optional else set())
    return [service for service in every if service.name in wanted]


def _fail(service: LocalService, message: str) -> StackError:
    return StackError(service.name, message, tail(service.log_file))


def _check_ports_free(service: LocalService) -> None:
    taken = [port for port in service.ports() if port_is_open(port)]
    if taken:
        raise StackError(
            service.name,
            f"port {', '.join(map(str, taken))} is taken by a process this stack did not start",
        )


def up(
    settings: StackSettings,
    report: Report,
    only: list[str] | None = None,
    *,
    optional: bool = False,
) -> None:
    """Start what is not running and wait until every service answers. Idempotent.

    `optional` adds the optional services (Prometheus) to the default set."""
    began = time.monotonic()
    stack = services(settings, only, optional=optional)
    to_start = [service for service in stack if service.process.pid() is None]
    for service in to_start:
        _check_ports_free(service)

    # Preparing means downloads and one-time builds: do them side by side.
    with ThreadPoolExecutor(max_workers=len(stack)) as pool:
        for service, future in [(s, pool.submit(s.prepare)) for s in to_start]:
            try:
                future.result()
            except StackError:
                raise
            except Exception as error:
                raise _fail(service, f"preparing failed: {error}") from error

    for service in to_start:
        pid = service.start()
        report(f"{service.name}: started (pid {pid}), log {service.log_file}")
    for service in stack:
        if service not in to_start:
            report(f"{service.name}: already running (pid {service.process.pid()})")

    _wait_ready(stack, settings.ready_timeout_seconds, report, began)
    for service in stack:
        service.on_ready()
    report(f"stack up in {time.monotonic() - began:.1f} s")


def _wait_ready(stack: list[LocalService], timeout: float, report: Report, began: float) -> None:
    waiting = list(stack)
    deadline = time.monotonic() + timeout
    while waiting:
        for service in list(waiting):
            if service.process.pid() is None:
                raise _fail(service, "exited while starting")
            if service.is_ready():
                waiting.remove(service)
                report(f"{service.name}: ready at {time.monotonic() - began:.1f} s")
        if waiting and time.monotonic() > deadline:
            raise _fail(waiting[0], f"not ready after {timeout:.0f} s")
        if waiting:
            time.sleep(0.25)


def down(settings: StackSettings, report: Report, only: list[str] | None = None) -> None:
    """Stop the processes this stack started, and only those."""
    for service in reversed(services(settings, only)):
        if service.process.stop(service.stop_signal, service.stop_timeout):
            report(f"{service.name}: stopped")
        else:
            report(f"{service.name}: was not running")


def status(settings: StackSettings) -> list[tuple[str, str, str, str]]:
    """Rows of (service, address, pid, state); state is up, starting or down."""
    rows = []
    for service in services(settings):
        pid = service.process.pid()
        if pid is None:
            state = "down"
        elif service.is_ready():
            state = "up"
        else:
            state = "starting"
        rows.append((service.name, service.address, str(pid or "-"), state))
    return rows


def exports(settings: StackSettings) -> dict[str, str]:
    values = {"PIXELMILL_PROFILE": "dev"}
    for service in services(settings):
        values.update(service.exports())
    return values
