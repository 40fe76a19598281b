"""What the engine tells its callers: what a source is and what came out."""

from dataclasses import dataclass
from typing import NamedTuple

from schemas.images import OutputFormat, SourceFormat


class Size(NamedTuple):
    width: int
    height: int


# EXIF orientations 5 to 8 turn the picture a quarter, swapping its sides.
SIDEWAYS_ORIENTATIONS = range(5, 9)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    format: SourceFormat
    # Upright (after EXIF orientation) and of one frame.
    width: int
    height: int
    # Animation frames; 1 for a still picture, also for multi-page TIFF and HEIF.
    frames: int
    has_alpha: bool
    # EXIF orientation of the stored pixels (1 to 8), which the engine turns upright.
    orientation: int = 1
    # Channels a pixel, alpha and extra ones included.
    bands: int = 3

    @property
    def size(self) -> Size:
        return Size(self.width, self.height)

    @property
    def animated(self) -> bool:
        return self.frames > 1


@dataclass(frozen=True, slots=True)
class Output:
    variant: str
    format: OutputFormat
    data: bytes
    # Of one frame when animated.
    width: int
    height: int
    frames: int
