"""The `pixelmill stack` subcommands."""

import argparse
import shlex
import sys

from infra.local import stack
from infra.local.errors import StackError
from infra.local.settings import StackSettings


def _report(line: str) -> None:
    print(line, flush=True)


def _up(args: argparse.Namespace) -> int:
    settings = StackSettings()
    if args.timeout is not None:
        settings.ready_timeout_seconds = args.timeout
    try:
        stack.up(settings, _report, args.services, optional=args.with_prometheus)
    except StackError as error:
        print(f"pixelmill stack up failed: {error}", file=sys.stderr)
        if error.log_tail:
            print(f"--- last lines of the {error.service} log ---", file=sys.stderr)
            print(error.log_tail, file=sys.stderr)
        return 1
    return _status(args)


def _down(args: argparse.Namespace) -> int:
    try:
        stack.down(StackSettings(), _report, args.services)
    except StackError as error:
        print(f"pixelmill stack down failed: {error}", file=sys.stderr)
        return 2
    return 0


def _status(args: argparse.Namespace) -> int:
    rows = stack.status(StackSettings())
    table = [("SERVICE", "ADDRESS", "PID", "STATE"), *rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print("  ".join(cells).rstrip())
    return 0 if all(row[3] == "up" for row in rows) else 1


def _env(args: argparse.Namespace) -> int:
    for name, value in stack.exports(StackSettings()).items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser("stack", help="the local infrastructure, without Docker")
    actions = parser.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="start Kafka, PostgreSQL, S3 and Keycloak; wait for them")
    up.add_argument("--timeout", type=float, help="seconds to wait for readiness")
    up.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also Prometheus on 127.0.0.1:19090, scraping the four services (Debian package)",
    )
    only = (
        f"only these services ({', '.join(stack.SERVICE_NAMES)}); default all, "
        "prometheus only with --with-prometheus or while it runs"
    )
    up.add_argument("services", nargs="*", help=only)
    up.set_defaults(handler=_up)
    down = actions.add_parser("down", help="stop what `up` started")
    down.add_argument("services", nargs="*", help=only)
    down.set_defaults(handler=_down)
    actions.add_parser("status", help="a table of the services").set_defaults(handler=_status)
    actions.add_parser("env", help="connection settings as export lines").set_defaults(handler=_env)
