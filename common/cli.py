"""The `pixelmill` command."""

import argparse
import sys
from collections.abc import Callable

from infra.local import cli as stack_cli
from processor import cli as process_cli

SERVICES: dict[str, str] = {
    "gateway": "gateway.app",
    "task-service": "task_service.app",
    "user-service": "user_service.app",
    "processor": "processor.app",
}


def _serve(args: argparse.Namespace) -> int:
    import importlib

    module = importlib.import_module(SERVICES[args.service])
    module.main()
    return 0


def _run(args: argparse.Namespace) -> int:
    from common.supervisor import run_services

    return run_services(list(SERVICES))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelmill", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    stack_cli.register(commands)
    process_cli.register(commands)

    serve = commands.add_parser("serve", help="run one service in the foreground")
    serve.add_argument("service", choices=sorted(SERVICES))
    serve.set_defaults(handler=_serve)

    run = commands.add_parser("run", help="run all four services in the foreground")
    run.set_defaults(handler=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
