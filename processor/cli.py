"""`pixelmill process`: the image engine on local files, without any service."""

import argparse
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from processor.engine import (
    EngineError,
    Fit,
    Gravity,
    InvalidParameter,
    OutputFormat,
    Variant,
    process_image,
    set_threads_per_image,
)
from processor.engine.variant import DEFAULT_NAME
from schemas.errors import ErrorCode

USAGE_ERROR = 2
_VARIANT_SPEC = re.compile(
    r"(?P<name>[^:]+):(?P<width>\d*)x(?P<height>\d*)(?::(?P<format>[a-z]+)(?::(?P<quality>\d+))?)?"
)


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """A `--variant` as typed; checked for ranges once combined with the shared options."""

    name: str
    width: int | None
    height: int | None
    format: OutputFormat | None
    quality: int | None


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    out_dir: Path


@dataclass(slots=True)
class Result:
    source: Path
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: tuple[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        if self.error is None:
            return {"source": str(self.source), "status": "done", "outputs": self.outputs}
        code, message = self.error
        return {
            "source": str(self.source),
            "status": "failed",
            "error": {"code": code, "message": message},
        }


class UsageError(Exception):
    pass


def register(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "process",
        help="process local image files with the pixelmill engine",
        description="Resize and convert image files, as the processor would, into --out.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILES_OR_DIRS")
    parser.add_argument("--out", required=True, type=Path, help="directory for the results")
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--fit", type=Fit, choices=list(Fit), default=Fit.INSIDE)
    parser.add_argument("--gravity", type=Gravity, choices=list(Gravity), default=Gravity.CENTRE)
    parser.add_argument("--format", type=OutputFormat, choices=list(OutputFormat))
    parser.add_argument("--quality", type=int)
    parser.add_argument("--enlarge", action="store_true", help="allow scaling up")
    parser.add_argument(
        "--variant",
        action="append",
        type=_parse_variant_spec,
        default=[],
        metavar="NAME:WxH[:FORMAT[:QUALITY]]",
        help="a named output (repeatable); W or H may be left empty",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=os.cpu_count() or 1, help="files in parallel"
    )
    parser.add_argument("--report", type=Path, help="write a JSON report of every file here")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        variants = _variants(args)
        sources = _plan_sources(args.paths, args.out)
    except (UsageError, InvalidParameter) as error:
        message = error.message if isinstance(error, InvalidParameter) else str(error)
        print(f"pixelmill process: error: {message}", file=sys.stderr)
        return USAGE_ERROR
    set_threads_per_image(args.jobs)
    named = [variant.name for variant in variants] != [DEFAULT_NAME]
    results = _process_all(sources, variants, named, args.jobs)
    if args.report is not None:
        _write_report(args.report, results)
    failed = sum(result.error is not None for result in results)
    print(f"{len(results)} files: {len(results) - failed} done, {failed} failed")
    return 1 if failed else 0


def _parse_variant_spec(text: str) -> VariantSpec:
    match = _VARIANT_SPEC.fullmatch(text)
    if match is None or not (match["width"] or match["height"]):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME:WxH[:FORMAT[:QUALITY]] (e.g. thumb:150x120:webp:80)"
        )
    try:
        output_format = OutputFormat(match["format"]) if match["format"] else None
    except ValueError:
        choices = ", ".join(OutputFormat)
        raise argparse.ArgumentTypeError(f"{text!r}: format must be one of {choices}") from None
    return VariantSpec(
        name=match["name"],
        width=int(match["width"]) if match["width"] else None,
        height=int(match["height"]) if match["height"] else None,
        format=output_format,
        quality=int(match["quality"]) if match["quality"] else None,
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _variants(args: argparse.Namespace) -> list[Variant]:
    specs: list[VariantSpec] = args.variant
    if not specs:
        specs = [VariantSpec(DEFAULT_NAME, args.width, args.height, None, None)]
    elif args.width is not None or args.height is not None:
        raise UsageError("give either --width/--height or --variant, not both")
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise UsageError("--variant names must be unique")
    return [
        Variant(
            name=spec.name,
            width=spec.width,
            height=spec.height,
            fit=args.fit,
            gravity=args.gravity,
            format=spec.format or args.format,
            quality=args.quality if spec.quality is None else spec.quality,
            enlarge=args.enlarge,
        )
        for spec in specs
    ]


def _plan_sources(paths: Sequence[Path], out: Path) -> list[Source]:
    """Files to process, each with the directory its results go to.

    Files found in a directory keep their place relative to it under `out`.
    """
    sources: list[Source] = []
    for path in paths:
        if path.is_dir():
            sources.extend(
                Source(found, out / found.parent.relative_to(path)) for found in _walk(path, out)
            )
        else:
            # A missing file is reported with the others rather than stopping the batch.
            sources.append(Source(path, out))
    seen: dict[tuple[Path, str], Path] = {}
    for source in sources:
        key = (source.out_dir, source.path.stem)
        if key in seen:
            raise UsageError(f"{seen[key]} and {source.path} would write the same result names")
        seen[key] = source.path
    return sources


def _walk(directory: Path, out: Path) -> Iterator[Path]:
    resolved_out = out.resolve()
    for found in sorted(directory.rglob("*")):
        # Results of an earlier run inside the input tree are not sources.
        if found.is_file() and not found.resolve().is_relative_to(resolved_out):
            yield found


def _process_all(
    sources: list[Source], variants: list[Variant], named: bool, jobs: int
) -> list[Result]:
    results: dict[Path, Result] = {}
    with _reporter(len(sources)) as report, ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(_process_one, source, variants, named): source for source in sources}
        for future in as_completed(futures):
            result = future.result()
            results[result.source] = result
            report(result)
    return [results[source.path] for source in sources]


def _process_one(source: Source, variants: list[Variant], named: bool) -> Result:
    result = Result(source.path)
    try:
        outputs = process_image(source.path.read_bytes(), variants)
        source.out_dir.mkdir(parents=True, exist_ok=True)
        for output in outputs:
            suffix = f".{output.variant}" if named else ""
            target = source.out_dir / f"{source.path.stem}{suffix}.{output.format.value}"
            target.write_bytes(output.data)
            result.outputs.append(
                {
                    "variant": output.variant,
                    "path": str(target),
                    "format": output.format.value,
                    "width": output.width,
                    "height": output.height,
                    "bytes": len(output.data),
                }
            )
    except EngineError as error:
        result.error = (error.code.value, error.message)
    except OSError as error:
        result.error = (ErrorCode.IO_ERROR.value, f"{error.strerror}: {error.filename}")
    return result


@contextmanager
def _reporter(total: int) -> Iterator[Callable[[Result], None]]:
    """Shows progress: a bar on a terminal, one line per file otherwise."""
    if not sys.stderr.isatty():

        def print_line(result: Result) -> None:
            print(_describe(result), flush=True)

        yield print_line
        return
    columns = (TextColumn("processing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("processing", total=total)

        def advance(result: Result) -> None:
            if result.error is not None:
                progress.console.print(_describe(result), markup=False, highlight=False)
            progress.advance(task)

        yield advance


def _describe(result: Result) -> str:
    if result.error is not None:
        code, message = result.error
        return f"failed {result.source}: {code}: {message}"
    written = ", ".join(f"{Path(o['path']).name} ({o['bytes']} B)" for o in result.outputs)
    return f"done   {result.source} -> {written}"


def _write_report(path: Path, results: list[Result]) -> None:
    failed = sum(result.error is not None for result in results)
    report = {
        "done": len(results) - failed,
        "failed": failed,
        "files": [result.as_json() for result in results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
