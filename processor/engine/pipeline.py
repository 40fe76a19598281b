"""The engine's steps in order, and the two entry points that run them."""

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

import pyvips

from processor.engine.context import Context
from processor.engine.errors import CorruptImage, EngineError, InternalError, UnsupportedFormat
from processor.engine.limits import DEFAULT_LIMITS, Limits
from processor.engine.models import Output, SourceInfo
from processor.engine.steps.check_animation_pixels import check_animation_pixels
from processor.engine.steps.check_coded_pixels import check_coded_pixels
from processor.engine.steps.check_file_size import check_file_size
from processor.engine.steps.check_frames import check_frames
from processor.engine.steps.check_jpeg_scans import check_jpeg_scans
from processor.engine.steps.check_output_pixels import check_output_pixels
from processor.engine.steps.check_pixels import check_pixels
from processor.engine.steps.check_variants import check_variants
from processor.engine.steps.choose_format import choose_format
from processor.engine.steps.crop import crop
from processor.engine.steps.detect_format import detect_format
from processor.engine.steps.drop_extra_bands import drop_extra_bands
from processor.engine.steps.encode import encode
from processor.engine.steps.flatten import flatten
from processor.engine.steps.load import load
from processor.engine.steps.pad import pad
from processor.engine.steps.plan_animation import plan_animation
from processor.engine.steps.plan_decode import plan_decode
from processor.engine.steps.plan_geometry import plan_geometry
from processor.engine.steps.read_header import read_header
from processor.engine.steps.reject_empty import reject_empty
from processor.engine.steps.resize import resize
from processor.engine.steps.share_source import share_source
from processor.engine.steps.take_first_frame import take_first_frame
from processor.engine.steps.to_srgb import to_srgb
from processor.engine.variant import Variant

Step = Callable[[Context], None]

# Everything up to here reads at most the header: limits hold before any decoding.
PROBE: tuple[Step, ...] = (
    reject_empty,
    check_file_size,
    detect_format,
    read_header,
    check_pixels,
    check_coded_pixels,
    check_frames,
    check_jpeg_scans,
)
DECODE: tuple[Step, ...] = (
    plan_animation,
    check_animation_pixels,
    check_output_pixels,
    plan_decode,
    load,
    to_srgb,
    drop_extra_bands,
    share_source,
)
TRANSFORM: tuple[Step, ...] = (
    choose_format,
    plan_geometry,
    take_first_frame,
    resize,
    crop,
    pad,
    flatten,
)
ENCODE: tuple[Step, ...] = (encode,)

# Told how long each stage took: "decode" once, "transform" and "encode" per variant.
# libvips is lazy, so most pixel work lands where pixels are finally needed: in "encode",
# or in "decode" when several variants share one decoded copy.
StageListener = Callable[[str, float], None]

# libvips' messages when a codec or variant of a format is missing from this build: libheif
# without HEVC, libtiff without ZSTD, libjpeg without 12-bit, no loader for animated AVIF.
_CODEC_MISSING = (
    "has not been built in",
    "support is not configured",
    "Unsupported JPEG data precision",
    "is not in a known format",
)
_MESSAGE_LIMIT = 300
# Lines libvips adds while a loader feels its way through the file; never the reason.
_NOISE = "source: bad seek"


def probe(data: bytes, limits: Limits = DEFAULT_LIMITS) -> SourceInfo:
    """What `data` is, from its first bytes and header only, with the limits applied."""
    ctx = Context(data=data, limits=limits)
    with _typed_errors():
        _run(ctx, PROBE)
    return ctx.need_info()


def process_image(
    data: bytes,
    variants: Sequence[Variant],
    limits: Limits = DEFAULT_LIMITS,
    *,
    on_stage: StageListener | None = None,
) -> list[Output]:
    """Every variant of the image in `data`, in order, from a single decode.

    Raises only `EngineError`.
    """
    ctx = Context(data=data, limits=limits, variants=tuple(variants))
    timed = _timed(on_stage)
    with _typed_errors():
        timed("decode", ctx, (check_variants, *PROBE, *DECODE))
        return [_render(ctx, variant, timed) for variant in ctx.variants]


def _timed(on_stage: StageListener | None) -> Callable[[str, Context, Sequence[Step]], None]:
    def run(stage: str, ctx: Context, steps: Sequence[Step]) -> None:
        if on_stage is None:
            _run(ctx, steps)
            return
        started = time.perf_counter()
        _run(ctx, steps)
        on_stage(stage, time.perf_counter() - started)

    return run


def _render(
    source: Context, variant: Variant, timed: Callable[[str, Context, Sequence[Step]], None]
) -> Output:
    ctx = replace(source, variant=variant)
    timed("transform", ctx, TRANSFORM)
    timed("encode", ctx, ENCODE)
    if ctx.output is None:
        raise InternalError(f"variant {variant.name} produced no output")
    return ctx.output


def _run(ctx: Context, steps: Sequence[Step]) -> None:
    for step in steps:
        step(ctx)


@contextmanager
def _typed_errors() -> Iterator[None]:
    try:
        yield
    except EngineError:
        raise
    except pyvips.Error as error:
        # Decoding is lazy, so a broken file may fail anywhere up to the encoder.
        raise _from_libvips(str(getattr(error, "detail", "") or error.message)) from error
    except UnicodeDecodeError as error:
        # pyvips could not build its error: libvips' message holds bytes from the file that
        # are not UTF-8. The message is still in libvips' buffer, where it would spoil every
        # later error in this process, so it is read leniently and cleared here.
        detail = pyvips.ffi.string(pyvips.vips_lib.vips_error_buffer()).decode("utf-8", "replace")
        pyvips.vips_lib.vips_error_clear()
        raise _from_libvips(detail) from error
    except Exception as error:
        raise InternalError(f"{type(error).__name__}: {error}") from error


def _from_libvips(detail: str) -> EngineError:
    # libvips stacks the messages of each layer, and the telling one is not always first
    # (HEIF: "bad seek" comes before the reason), so all distinct ones are kept, in order.
    lines = dict.fromkeys(
        line.strip()
        for line in detail.splitlines()
        if line.strip() and not line.strip().startswith(_NOISE)
    )
    reason = " / ".join(lines) or "unknown error"
    if len(reason) > _MESSAGE_LIMIT:
        # The end holds the outermost layer's words; the start may be a pile of warnings.
        reason = "... " + reason[-_MESSAGE_LIMIT:]
    if any(missing in detail for missing in _CODEC_MISSING):
        return UnsupportedFormat(f"the image's codec cannot be decoded by this build: {reason}")
    return CorruptImage(f"the image could not be decoded: {reason}")
