"""The state the pipeline steps read and fill in, one field per fact learned."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import pyvips

from processor.engine.geometry import Geometry
from processor.engine.limits import Limits
from processor.engine.models import Output, Size, SourceInfo
from processor.engine.variant import Variant
from schemas.images import OutputFormat, SourceFormat

T = TypeVar("T")


class StepOrderError(RuntimeError):
    """A step ran before the one that provides what it needs: a bug in a pipeline list."""


@dataclass(slots=True)
class Context:
    data: bytes
    limits: Limits
    variants: Sequence[Variant] = ()

    # Probe: what the source is, from its first bytes and its header.
    format: SourceFormat | None = None
    info: SourceInfo | None = None

    # Decode: done once for every variant.
    animate: bool = False
    decode_size: Size | None = None
    image: pyvips.Image | None = None

    # Per variant: each variant works on its own copy of the context.
    variant: Variant | None = None
    geometry: Geometry | None = None
    output_format: OutputFormat | None = None
    output: Output | None = None

    def need_format(self) -> SourceFormat:
        return _need(self.format, "format")

    def need_info(self) -> SourceInfo:
        return _need(self.info, "info")

    def need_image(self) -> pyvips.Image:
        return _need(self.image, "image")

    def need_variant(self) -> Variant:
        return _need(self.variant, "variant")

    def need_geometry(self) -> Geometry:
        return _need(self.geometry, "geometry")

    def need_output_format(self) -> OutputFormat:
        return _need(self.output_format, "output_format")


def _need(value: T | None, name: str) -> T:
    if value is None:
        raise StepOrderError(f"context.{name} is not set yet")
    return value
