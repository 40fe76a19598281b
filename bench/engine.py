"""pixelmill's engine against bare pyvips (the limit) and Pillow, side by side.

Each lane processes the same generated photos on all cores:

- limit:  bare pyvips, thumbnail_buffer and encode, in a thread pool, with the engine's
  process-wide libvips settings;
- limit-shrink (12 MP JPEG single-size cases): bare pyvips decoding with the same JPEG
  shrink-on-load as the engine (thumbnail_buffer keeps a further 2x for its resampler), so
  that the engine's own overhead shows apart from that choice;
- pillow: the usual Pillow code (open, draft, thumbnail or resize LANCZOS, save), in a
  process pool, since Pillow holds the GIL between its C calls;
- engine: `processor.engine.process_image`, in a thread pool as the processor runs it;
- engine-separate (four-variant case only): the engine called once per variant.

Every run of a lane is a fresh child process; lanes alternate within each round and the
median round is reported. CPU time counts the whole process tree of the lane, peak RSS is the
largest sum of the tree's resident memory, sampled.

    python bench/engine.py            # every case, 5 rounds
    python bench/engine.py --quick    # fewer images and rounds
    python bench/engine.py --rss      # engine RSS after 100 and after 1000 images
    python bench/engine.py --decoders # the 12 MP JPEG decode alone, libvips against Pillow

pyvips, Pillow and the engine are imported inside the lanes, so that each lane's process
holds only its own library.
"""

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / ".data"
PHOTOS_PER_KIND = 4
CORES = os.cpu_count() or 1
QUALITY = 80


@dataclass(frozen=True)
class Box:
    width: int
    height: int
    cover: bool = False


@dataclass(frozen=True)
class Case:
    title: str
    photos: str  # a key of PHOTO_KINDS
    boxes: tuple[Box, ...]
    format: str  # "jpg" or "webp"
    lanes: tuple[str, ...] = ("limit", "pillow", "engine")


SHRINK_LANES = ("limit", "limit-shrink", "pillow", "engine")


PHOTO_KINDS: dict[str, tuple[int, int, str]] = {
    "12mp-jpeg": (4000, 3000, "jpg"),
    "2mp-jpeg": (1632, 1224, "jpg"),
    "12mp-webp": (4000, 3000, "webp"),
}

ECOMMERCE = (Box(150, 120, cover=True), Box(700, 700), Box(1920, 1080), Box(2500, 2500))

CASES: dict[str, Case] = {
    "jpeg-to-jpeg": Case(
        "12 MP JPEG -> 1200 px JPEG q80", "12mp-jpeg", (Box(1200, 1200),), "jpg", SHRINK_LANES
    ),
    "jpeg-to-webp": Case(
        "12 MP JPEG -> 1200 px WebP q80", "12mp-jpeg", (Box(1200, 1200),), "webp", SHRINK_LANES
    ),
    "ecommerce": Case(
        "12 MP JPEG -> 150x120 cover, 700, 1920x1080, 2500 inside, JPEG q80",
        "12mp-jpeg",
        ECOMMERCE,
        "jpg",
        lanes=("limit", "pillow", "engine", "engine-separate"),
    ),
    "small-jpeg": Case("2 MP JPEG -> 1200 px JPEG q80", "2mp-jpeg", (Box(1200, 1200),), "jpg"),
    "webp-to-webp": Case("12 MP WebP -> 1200 px WebP q80", "12mp-webp", (Box(1200, 1200),), "webp"),
}


# Inputs ---------------------------------------------------------------------------------


def photo_paths(kind: str) -> list[Path]:
    width, height, suffix = PHOTO_KINDS[kind]
    paths = [DATA_DIR / f"photo-{kind}-{seed}.{suffix}" for seed in range(PHOTOS_PER_KIND)]
    for seed, path in enumerate(paths):
        if not path.exists():
            _write_photo(path, width, height, suffix, seed)
    return paths


def _write_photo(path: Path, width: int, height: int, suffix: str, seed: int) -> None:
    """A deterministic picture that compresses like a photograph.

    Smooth colour fields (tiny random images enlarged), blurred shapes for edges, and fine
    noise for sensor grain: flat synthetic images would make every decoder look fast.
    """
    import pyvips

    rng = random.Random(seed)
    fields = [
        pyvips.Image.gaussnoise(8, 6, mean=128, sigma=35, seed=seed * 3 + band).resize(
            width / 8, vscale=height / 6, kernel="cubic"
        )
        for band in range(3)
    ]
    image = fields[0].bandjoin(fields[1:]).cast("uchar").copy(interpretation="srgb")
    for _ in range(120):
        colour = [rng.randrange(256) for _ in range(3)]
        x, y = rng.randrange(width), rng.randrange(height)
        if rng.random() < 0.5:
            image = image.draw_circle(colour, x, y, rng.randrange(10, width // 10), fill=True)
        else:
            w, h = rng.randrange(10, width // 8), rng.randrange(10, height // 8)
            image = image.draw_rect(colour, x, y, w, h, fill=True)
    # Texture at a few pixels' scale, like foliage or fabric, then fine grain.
    texture = pyvips.Image.gaussnoise(width // 4, height // 4, mean=0, sigma=14, seed=seed + 100)
    texture = texture.resize(4, kernel="cubic").crop(0, 0, width, height)
    grain = pyvips.Image.gaussnoise(width, height, mean=0, sigma=4, seed=seed)
    image = (image.gaussblur(1.2) + texture + grain).cast("uchar").copy(interpretation="srgb")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = image.jpegsave_buffer(Q=90) if suffix == "jpg" else image.webpsave_buffer(Q=85)
    # Written under a temporary name so an interrupted run never leaves half a photo.
    partial_path = path.with_suffix(".partial")
    partial_path.write_bytes(data)
    partial_path.replace(path)


# Lanes: each turns one file into its case's outputs, returning the bytes written ----------


def limit_job(case: Case, jpeg_shrink: bool) -> Callable[[Path], int]:
    import pyvips

    keep_nothing = pyvips.enums.ForeignKeep.NONE
    largest = max(case.boxes, key=lambda box: box.width * box.height)

    def save(image: "pyvips.Image") -> int:
        if case.format == "jpg":
            return len(image.jpegsave_buffer(Q=QUALITY, keep=keep_nothing))
        return len(image.webpsave_buffer(Q=QUALITY, keep=keep_nothing))

    def job(path: Path) -> int:
        data = path.read_bytes()
        if len(case.boxes) == 1:
            box = case.boxes[0]
            crop = "centre" if box.cover else "none"
            if jpeg_shrink:
                header = pyvips.Image.new_from_buffer(data, "")
                scale = max(box.width / header.width, box.height / header.height)
                shrink = next(s for s in (8, 4, 2, 1) if s * scale <= 1 or s == 1)
                decoded = pyvips.Image.new_from_buffer(data, "", shrink=shrink, access="sequential")
                return save(
                    decoded.thumbnail_image(box.width, height=box.height, size="down", crop=crop)
                )
            return save(
                pyvips.Image.thumbnail_buffer(
                    data, box.width, height=box.height, size="down", crop=crop
                )
            )
        # Several sizes: decode once at the largest, then derive the rest from memory.
        decoded = pyvips.Image.thumbnail_buffer(
            data, largest.width, height=largest.height, size="down"
        ).copy_memory()
        written = 0
        for box in case.boxes:
            image = decoded
            if box != largest:
                image = decoded.thumbnail_image(
                    box.width,
                    height=box.height,
                    size="down",
                    crop="centre" if box.cover else "none",
                )
            written += save(image)
        return written

    return job


def pillow_task(case_name: str, path: Path) -> int:
    from PIL import Image, ImageOps

    case = CASES[case_name]
    largest = max(case.boxes, key=lambda box: box.width * box.height)
    written = 0
    with Image.open(path) as image:
        # draft() to the target picks libjpeg's DCT scaling, the engine's shrink-on-load, so
        # both lanes decode the same pixels. thumbnail() alone would ask for twice the target
        # (its reducing gap) and decode a 12 MP JPEG whole for 1200 px: slower than this.
        image.draft("RGB", (largest.width, largest.height))
        ImageOps.exif_transpose(image, in_place=True)
        for box in case.boxes:
            if box.cover:
                resized = ImageOps.fit(image, (box.width, box.height), Image.Resampling.LANCZOS)
            elif len(case.boxes) == 1:
                resized = image
                resized.thumbnail((box.width, box.height), Image.Resampling.LANCZOS)
            else:
                scale = min(1, box.width / image.width, box.height / image.height)
                size = (round(image.width * scale), round(image.height * scale))
                resized = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
            buffer = io.BytesIO()
            resized.save(buffer, "JPEG" if case.format == "jpg" else "WEBP", quality=QUALITY)
            written += buffer.tell()
    return written


def engine_job(case: Case, separate: bool) -> Callable[[Path], int]:
    from processor.engine import Fit, OutputFormat, Variant, process_image

    variants = [
        Variant(
            name=f"v{index}",
            width=box.width,
            height=box.height,
            fit=Fit.COVER if box.cover else Fit.INSIDE,
            format=OutputFormat(case.format),
            quality=QUALITY,
        )
        for index, box in enumerate(case.boxes)
    ]

    def job(path: Path) -> int:
        data = path.read_bytes()
        batches = [[variant] for variant in variants] if separate else [variants]
        return sum(len(out.data) for batch in batches for out in process_image(data, batch))

    return job


def run_lane(lane: str, case_name: str, images: int, workers: int) -> dict[str, float]:
    """In the lane's own process: warm up, then time `images` files on `workers`."""
    case = CASES[case_name]
    paths = photo_paths(case.photos)
    work = [paths[i % len(paths)] for i in range(images)]
    executor: Executor
    if lane == "pillow":
        executor = ProcessPoolExecutor(max_workers=workers)
        job: Callable[[Path], int] = partial(pillow_task, case_name)
    else:
        # Importing the engine applies its process-wide libvips settings (loaders, operation
        # cache, log forwarding). The limit lanes get them and the same threading too, so
        # that lanes differ only in what they do per image.
        from processor.engine import set_threads_per_image

        set_threads_per_image(workers)
        executor = ThreadPoolExecutor(max_workers=workers)
        if lane.startswith("limit"):
            job = limit_job(case, jpeg_shrink=lane == "limit-shrink")
        else:
            job = engine_job(case, separate=lane == "engine-separate")
    with executor:
        list(executor.map(job, paths[:1] * workers))
        cpu_before, started = _tree_cpu_seconds(), time.perf_counter()
        written = sum(executor.map(job, work))
        wall, cpu = time.perf_counter() - started, _tree_cpu_seconds() - cpu_before
    return {"images": images, "wall": wall, "cpu": cpu, "bytes": written}


def _tree_cpu_seconds() -> float:
    """CPU time of this process and its live children (pool workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for child in _children(os.getpid()):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


# Measuring from outside: one child process per lane run --------------------------------


@dataclass(frozen=True)
class Measurement:
    images_per_second: float
    cpu_per_image: float
    peak_rss_mb: float


def measure(lane: str, case_name: str, images: int, workers: int) -> Measurement:
    command = [
        sys.executable,
        __file__,
        "--lane",
        lane,
        "--case",
        case_name,
        "--images",
        str(images),
        "--workers",
        str(workers),
    ]
    with (
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child,
        _peak_rss(child.pid) as peak,
    ):
        stdout, _ = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"lane {lane} on {case_name} failed with {child.returncode}")
    result = json.loads(stdout.strip().splitlines()[-1])
    return Measurement(
        images_per_second=result["images"] / result["wall"],
        cpu_per_image=result["cpu"] / result["images"],
        peak_rss_mb=peak[0] / 1e6,
    )


@contextmanager
def _peak_rss(pid: int) -> Iterator[list[int]]:
    """Samples the resident memory of `pid` and its descendants; yields [peak bytes]."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], sum(_rss_bytes(p) for p in (pid, *_children(pid))))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            direct = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in direct:
            found += [child, *_children(child)]
    return found


def _rss_bytes(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# Report ---------------------------------------------------------------------------------


def compare(case_names: list[str], rounds: int, images: int, workers: int) -> None:
    print(f"{CORES} cores, {workers} workers per lane, {images} images x {rounds} rounds, medians")
    for case_name in case_names:
        case = CASES[case_name]
        runs: dict[str, list[Measurement]] = {lane: [] for lane in case.lanes}
        for round_index in range(rounds):
            # Rotating the order spreads the machine's drift evenly over the lanes.
            shift = round_index % len(case.lanes)
            for lane in case.lanes[shift:] + case.lanes[:shift]:
                runs[lane].append(measure(lane, case_name, images, workers))
        medians = {lane: _median(measurements) for lane, measurements in runs.items()}
        _print_case(case, medians)


def _median(measurements: list[Measurement]) -> Measurement:
    return Measurement(
        images_per_second=statistics.median(m.images_per_second for m in measurements),
        cpu_per_image=statistics.median(m.cpu_per_image for m in measurements),
        peak_rss_mb=statistics.median(m.peak_rss_mb for m in measurements),
    )


def _print_case(case: Case, medians: dict[str, Measurement]) -> None:
    print(f"\n{case.title}")
    print(f"  {'lane':<16}{'images/s':>10}{'CPU s/image':>13}{'peak RSS MB':>13}")
    for lane, m in medians.items():
        print(
            f"  {lane:<16}{m.images_per_second:>10.2f}{m.cpu_per_image:>13.3f}"
            f"{m.peak_rss_mb:>13.0f}"
        )
    engine = medians["engine"]
    for other in ("limit", "limit-shrink", "pillow"):
        if other not in medians:
            continue
        base = medians[other]
        print(
            f"  engine/{other}: {engine.images_per_second / base.images_per_second:.2f} "
            f"throughput, {base.cpu_per_image / engine.cpu_per_image:.2f} CPU efficiency"
        )
    if "engine-separate" in medians:
        separate = medians["engine-separate"]
        print(
            f"  one {len(case.boxes)}-variant call: {engine.cpu_per_image:.3f} CPU s, "
            f"{len(case.boxes)} single calls: {separate.cpu_per_image:.3f} CPU s "
            f"({engine.cpu_per_image / separate.cpu_per_image:.2f} of the cost)"
        )


def rss_growth(case_name: str, workers: int, first: int, total: int) -> None:
    """Engine RSS after `first` and after `total` images, in this process."""
    from processor.engine import set_threads_per_image

    case = CASES[case_name]
    set_threads_per_image(workers)
    job = engine_job(case, separate=False)
    paths = photo_paths(case.photos)
    readings: list[int] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = 0
        for checkpoint in (first, total):
            sum(pool.map(job, [paths[i % len(paths)] for i in range(done, checkpoint)]))
            done = checkpoint
            readings.append(_rss_bytes(os.getpid()))
            print(f"RSS after {checkpoint} images: {readings[-1] / 1e6:.0f} MB", flush=True)
    print(f"ratio {total}/{first}: {readings[1] / readings[0]:.2f} (target <= 1.3)")


def decode_only(library: str, images: int) -> dict[str, float]:
    """In the lane's own process, one thread: decode `images` 12 MP JPEGs with the DCT
    scaling the engine picks for the 1200 px case, nothing else."""
    case = CASES["jpeg-to-jpeg"]
    (box,) = case.boxes
    paths = photo_paths(case.photos)
    datas = [path.read_bytes() for path in paths]
    decode: Callable[[bytes], object]
    if library == "libvips":
        import pyvips

        from processor.engine.geometry import jpeg_shrink
        from processor.engine.models import Size

        width, height, _ = PHOTO_KINDS[case.photos]
        shrink = jpeg_shrink(Size(width, height), Size(box.width, box.height))
        pyvips.concurrency_set(1)

        def decode(data: bytes) -> object:
            image = pyvips.Image.new_from_buffer(data, "", shrink=shrink, access="sequential")
            return image.write_to_memory()
    else:
        from PIL import Image

        def decode(data: bytes) -> object:
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (box.width, box.height))
                return image.load()

    for data in datas:
        decode(data)
    before = resource.getrusage(resource.RUSAGE_SELF)
    for index in range(images):
        decode(datas[index % len(datas)])
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # Voluntary switches: a thread waiting on another, as libvips' pipeline threads do.
    waits = after.ru_nvcsw - before.ru_nvcsw
    return {"cpu_ms": cpu / images * 1000, "waits": waits / images}


def compare_decoders(rounds: int, images: int) -> None:
    print(f"12 MP JPEG decoded for 1200 px, one thread, {images} images x {rounds} rounds")
    runs: dict[str, list[dict[str, float]]] = {"libvips": [], "pillow": []}
    for _ in range(rounds):
        for library in runs:
            command = [sys.executable, __file__, "--decode-lane", library, "--images", str(images)]
            output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            runs[library].append(json.loads(output.strip().splitlines()[-1]))
    print(f"  {'library':<10}{'CPU ms/image':>14}{'thread waits/image':>21}")
    for library, results in runs.items():
        cpu = statistics.median(r["cpu_ms"] for r in results)
        waits = statistics.median(r["waits"] for r in results)
        print(f"  {library:<10}{cpu:>14.1f}{waits:>21.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="8 images, 2 rounds")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--images", type=int, default=40, help="images per lane run")
    parser.add_argument("--workers", type=int, default=CORES)
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated")
    parser.add_argument(
        "--rss", action="store_true", help="engine RSS after 100 and 1000 four-variant images"
    )
    parser.add_argument(
        "--decoders", action="store_true", help="the JPEG decode alone: libvips against Pillow"
    )
    parser.add_argument("--lane", help=argparse.SUPPRESS)
    parser.add_argument("--decode-lane", help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lane:
        print(json.dumps(run_lane(args.lane, args.case, args.images, args.workers)))
        return
    if args.decode_lane:
        print(json.dumps(decode_only(args.decode_lane, args.images)))
        return
    case_names = args.cases.split(",")
    unknown = set(case_names) - set(CASES)
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {', '.join(CASES)}")
    for name in case_names:
        photo_paths(CASES[name].photos)
    if args.rss:
        rss_growth("ecommerce", args.workers, 100, 1000)
        return
    if args.quick:
        args.images, args.rounds = 8, 2
    if args.decoders:
        compare_decoders(args.rounds, args.images)
        return
    compare(case_names, args.rounds, args.images, args.workers)


if __name__ == "__main__":
    main()
