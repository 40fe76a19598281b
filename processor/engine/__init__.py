"""The image engine: untrusted image bytes and a list of variants in, encoded variants out.

Pure: no network, no storage, no global state of its own beyond libvips' settings, which
importing this package applies (see `vips.configure`). Used by the processor, the CLI and
the tests alike.
"""

from processor.engine import vips
from processor.engine.errors import (
    CorruptImage,
    EmptyFile,
    EngineError,
    FileTooLarge,
    InternalError,
    InvalidParameter,
    TooManyFrames,
    TooManyPixels,
    UnsupportedFormat,
)
from processor.engine.limits import DEFAULT_LIMITS, Limits
from processor.engine.models import Output, Size, SourceInfo
from processor.engine.pipeline import probe, process_image
from processor.engine.variant import Colour, Variant
from processor.engine.vips import set_threads_per_image
from schemas.images import Fit, Gravity, OutputFormat, SourceFormat

vips.configure()

__all__ = [
    "DEFAULT_LIMITS",
    "Colour",
    "CorruptImage",
    "EmptyFile",
    "EngineError",
    "FileTooLarge",
    "Fit",
    "Gravity",
    "InternalError",
    "InvalidParameter",
    "Limits",
    "Output",
    "OutputFormat",
    "Size",
    "SourceFormat",
    "SourceInfo",
    "TooManyFrames",
    "TooManyPixels",
    "UnsupportedFormat",
    "Variant",
    "probe",
    "process_image",
    "set_threads_per_image",
]
