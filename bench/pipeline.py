"""The whole pipeline against the engine alone, side by side in one run.

Lanes, interleaved round by round on the same photos and worker count, for one single-size
case of bench/engine.py (default `jpeg-to-jpeg`: 12 MP JPEG -> 1200 px JPEG q80; `--case
small-jpeg` for 2 MP photos):

- engine:    bench/engine.py's engine lane: `process_image` in a thread pool, nothing else;
- processor: sources already in S3, a task created straight in task_service; from the
             create call to the task's `finished_dt`: Kafka, the processor, S3 and PostgreSQL;
- pipeline:  a 200-image multipart upload through the gateway; from the first byte sent to
             the task's `finished_dt`.

Then single-image latency, POST to `done`, p50 and p95, and where the CPU went: per lane, the
CPU milliseconds per image of each process (our services, the stack's servers, and this
client), which on a machine whose cores are all busy is what sets the ratios. The local stack
must be up
(`pixelmill stack up`); the services are started here as real processes, on free ports, and
stopped at the end. Stop `make run` first: a second processor would share the work.

    python -m bench.pipeline            # 200 images, 3 rounds, 20 latency samples
    python -m bench.pipeline --quick    # 60 images, 1 round, 5 samples
"""

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import psutil

from bench.engine import CASES, CORES, QUALITY, Case, measure, photo_paths
from common.s3 import s3_client
from common.settings import KeycloakSettings, S3Settings
from infra.local import stack
from infra.local.settings import StackSettings
from schemas.images import OutputFormat
from schemas.tasks import CreateTaskCommand, NewImage, ProcessingParams, VariantSpec
from tests.e2e.services import Service, base_environment, consumer_state
from tests.harness.auth import ShopToken
from tests.harness.kafka import forget_consumer_group
from tests.harness.ports import free_port

SINGLE_SIZE_CASES = ("jpeg-to-jpeg", "small-jpeg", "jpeg-to-webp", "webp-to-webp")


def variant_of(case: Case) -> VariantSpec:
    (box,) = case.boxes
    return VariantSpec(
        name="default",
        width=box.width,
        height=box.height,
        format=OutputFormat(case.format),
        quality=QUALITY,
    )


START_TIMEOUT_SECONDS = 120
FINISH_TIMEOUT_SECONDS = 900
# The end time is the task's own finished_dt, so polling more often measures nothing better;
# it only bills the gateway, task_service and PostgreSQL for reading the whole task view.
POLL_SECONDS = 0.5


class Services:
    """task_service, the gateway and one processor, configured like production."""

    def __init__(self, workdir: Path) -> None:
        self.group = f"pixelmill-bench-{uuid.uuid4().hex[:8]}"
        ports = {name: free_port() for name in ("task", "gateway", "processor")}
        env = base_environment(
            {
                "PIXELMILL_TASK_SERVICE_PORT": str(ports["task"]),
                "PIXELMILL_TASK_SERVICE_URL": f"http://127.0.0.1:{ports['task']}",
                "PIXELMILL_GATEWAY_PORT": str(ports["gateway"]),
                "PIXELMILL_PROCESSOR_PORT": str(ports["processor"]),
                "PIXELMILL_PROCESSOR_GROUP": self.group,
                "PIXELMILL_PROCESSOR_ENGINE_THREADS": str(CORES),
                # Fetching and storing overlap the pixels of other jobs.
                "PIXELMILL_PROCESSOR_CONCURRENCY": os.environ.get("BENCH_CONC", str(CORES * 2)),
                "PIXELMILL_LOG_LEVEL": "WARNING",
            }
        )
        self.task_service = Service(
            "task_service", "task-service", ports["task"], env, workdir / "task.log"
        )
        self.gateway = Service("gateway", "gateway", ports["gateway"], env, workdir / "gateway.log")
        # The processor logs at INFO so that its joining the group can be seen.
        self.processor = Service(
            "processor",
            "processor",
            ports["processor"],
            {**env, "PIXELMILL_LOG_LEVEL": "INFO"},
            workdir / "processor.log",
        )
        self.all = [self.task_service, self.gateway, self.processor]

    def start(self) -> None:
        for service in self.all:
            service.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (
            all(s.healthy() for s in self.all)
            and consumer_state(self.processor.log_text(), self.group) is not None
        ):
            dead = [s.tail() for s in self.all if s.exit_code() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(
                    "services did not start:\n" + "\n".join(dead or [s.tail() for s in self.all])
                )
            time.sleep(0.2)

    def stop(self) -> None:
        for service in self.all:
            service.terminate()
        for service in self.all:
            service.wait_stopped(30)
        forget_consumer_group(self.group)


@contextmanager
def running_services() -> Iterator[Services]:
    with tempfile.TemporaryDirectory(prefix="pixelmill-bench-") as workdir:
        services = Services(Path(workdir))
        services.start()
        try:
            yield services
        finally:
            services.stop()


# CPU seconds per process, by part: our services, the stack's servers, the bench client.
CpuTimes = dict[str, float]


class CpuMeter:
    """CPU time used by each part of the system between two readings."""

    def __init__(self, services: Services) -> None:
        self.pids = {service.name: service.pid for service in services.all}
        for name, _, pid, _ in stack.status(StackSettings()):
            if pid.isdigit():
                self.pids[name] = int(pid)

    def read(self) -> CpuTimes:
        times = {name: _tree_cpu_seconds(pid) for name, pid in self.pids.items()}
        # The client alone: the engine lanes it starts are children with their own figures.
        own = psutil.Process().cpu_times()
        times["bench client"] = own.user + own.system
        return times


def _tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its descendants, live or exited and waited for."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system + times.children_user + times.children_system
    return total


def per_image_ms(before: CpuTimes, after: CpuTimes, images: int) -> CpuTimes:
    return {name: (after[name] - before[name]) * 1000 / images for name in after}


def bearer() -> tuple[dict[str, str], str]:
    """A fresh token of the example shop's service account, and its subject (the owner)."""
    token = ShopToken(KeycloakSettings())
    return {"Authorization": f"Bearer {token.access_token()}"}, token.subject


def _finished_at(client: httpx.Client, task_id: str) -> datetime:
    deadline = time.monotonic() + FINISH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        task = client.get(f"/api/v1/task/{task_id}").raise_for_status().json()
        if task["finished_dt"]:
            if task["status"] != "done":
                raise RuntimeError(f"task {task_id} ended {task['status']}: {task['counts']}")
            return datetime.fromisoformat(task["finished_dt"])
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"task {task_id} did not finish in {FINISH_TIMEOUT_SECONDS} s")


def _upload_form(
    paths: list[Path], variant: VariantSpec
) -> tuple[list[tuple[str, tuple[str, bytes, str]]], dict[str, str]]:
    files = [("file", (path.name, path.read_bytes(), "application/octet-stream")) for path in paths]
    return files, {"variants": f"[{variant.model_dump_json()}]"}


@dataclass
class LaneRun:
    images_per_second: float
    cpu_ms_per_image: CpuTimes


def pipeline_lane(
    services: Services, meter: CpuMeter, paths: list[Path], variant: VariantSpec
) -> LaneRun:
    """Images per second from the start of the upload to the last image done."""
    files, fields = _upload_form(paths, variant)
    headers, _ = bearer()
    with httpx.Client(base_url=services.gateway.url, timeout=600, headers=headers) as client:
        cpu_before = meter.read()
        started = time.time()
        task = client.post("/api/v1/task", files=files, data=fields).raise_for_status().json()
        finished = _finished_at(client, task["id"])
        cpu = per_image_ms(cpu_before, meter.read(), len(paths))
    return LaneRun(len(paths) / (finished.timestamp() - started), cpu)


def processor_lane(
    services: Services, meter: CpuMeter, paths: list[Path], variant: VariantSpec
) -> LaneRun:
    """Images per second with the sources already in S3: the processor's own pace."""
    settings = S3Settings()
    s3 = s3_client(settings)
    task_id = uuid.uuid4()
    images = [NewImage(id=uuid.uuid4(), source_kind="s3", source_ref="") for _ in paths]
    images = [
        image.model_copy(update={"source_ref": f"sources/{task_id}/{image.id}"}) for image in images
    ]
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda pair: s3.put_object(
                    Bucket=settings.s3_bucket, Key=pair[0].source_ref, Body=pair[1].read_bytes()
                ),
                zip(images, paths, strict=True),
            )
        )
    headers, owner = bearer()
    command = CreateTaskCommand(
        id=task_id,
        owner=owner,
        params=ProcessingParams(variants=[variant]),
        images=images,
    )
    with (
        httpx.Client(base_url=services.task_service.url, timeout=60) as internal,
        httpx.Client(base_url=services.gateway.url, timeout=60, headers=headers) as client,
    ):
        cpu_before = meter.read()
        started = time.time()
        internal.post(
            "/internal/tasks",
            content=command.model_dump_json(),
            headers={"content-type": "application/json"},
        ).raise_for_status()
        finished = _finished_at(client, str(task_id))
        cpu = per_image_ms(cpu_before, meter.read(), len(paths))
    return LaneRun(len(paths) / (finished.timestamp() - started), cpu)


def latencies(services: Services, path: Path, variant: VariantSpec, samples: int) -> list[float]:
    files, fields = _upload_form([path], variant)
    measured = []
    headers, _ = bearer()
    with httpx.Client(base_url=services.gateway.url, timeout=60, headers=headers) as client:
        for _ in range(samples):
            started = time.time()
            task = client.post("/api/v1/task", files=files, data=fields).raise_for_status().json()
            measured.append(_finished_at(client, task["id"]).timestamp() - started)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=SINGLE_SIZE_CASES, default="jpeg-to-jpeg")
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20, help="single-image latency samples")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.images, args.rounds, args.samples = 60, 1, 5

    case = CASES[args.case]
    variant = variant_of(case)
    photos = photo_paths(case.photos)
    paths = [photos[i % len(photos)] for i in range(args.images)]
    results: dict[str, list[LaneRun]] = {"engine": [], "processor": [], "pipeline": []}
    with running_services() as services:
        meter = CpuMeter(services)
        # One small task first: connections opened, partitions assigned, caches warm.
        processor_lane(services, meter, paths[: CORES * 2], variant)
        for round_number in range(1, args.rounds + 1):
            engine = measure("engine", args.case, args.images, CORES)
            results["engine"].append(
                LaneRun(engine.images_per_second, {"engine": engine.cpu_per_image * 1000})
            )
            results["processor"].append(processor_lane(services, meter, paths, variant))
            results["pipeline"].append(pipeline_lane(services, meter, paths, variant))
            print(
                f"round {round_number}: "
                + ", ".join(
                    f"{lane} {runs[-1].images_per_second:.1f} img/s"
                    for lane, runs in results.items()
                ),
                flush=True,
            )
        latency = sorted(latencies(services, paths[0], variant, args.samples))

    medians = {
        lane: statistics.median(run.images_per_second for run in runs)
        for lane, runs in results.items()
    }
    print(f"\n{args.images} x {case.title}, {CORES} workers, median of {args.rounds} rounds")
    print(f"{'lane':<12}{'images/s':>10}")
    for lane, value in medians.items():
        print(f"{lane:<12}{value:>10.1f}")
    print(f"\nprocessor/engine  {medians['processor'] / medians['engine']:.2f}")
    print(f"pipeline/engine   {medians['pipeline'] / medians['engine']:.2f}")
    p95 = latency[min(len(latency) - 1, round(0.95 * (len(latency) - 1)))]
    print(
        f"single image POST -> done: p50 {statistics.median(latency) * 1000:.0f} ms,"
        f" p95 {p95 * 1000:.0f} ms"
    )
    print_cpu(results)


def print_cpu(results: dict[str, list[LaneRun]]) -> None:
    """Median CPU ms per image of each part, one column per lane."""
    parts = sorted(
        {part for runs in results.values() for run in runs for part in run.cpu_ms_per_image}
    )
    lanes = list(results)
    medians = {
        lane: {
            part: statistics.median(run.cpu_ms_per_image.get(part, 0.0) for run in runs)
            for part in parts
        }
        for lane, runs in results.items()
    }
    print("\nCPU ms per image, by process (median of the rounds)")
    print(f"{'part':<14}" + "".join(f"{lane:>11}" for lane in lanes))
    for part in parts:
        print(f"{part:<14}" + "".join(f"{medians[lane][part]:>11.1f}" for lane in lanes))
    totals = {lane: sum(medians[lane].values()) for lane in lanes}
    print(f"{'total':<14}" + "".join(f"{totals[lane]:>11.1f}" for lane in lanes))


if __name__ == "__main__":
    main()
