"""What the engine accepts from an untrusted source, checked before any pixel is decoded."""

from dataclasses import dataclass

from schemas import limits


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = limits.MAX_FILE_BYTES
    # Per frame, and for an animation kept as one, over all its frames together; read and
    # written alike (each variant's output is held to it too).
    max_pixels: int = limits.MAX_PIXELS
    max_frames: int = limits.MAX_FRAMES
    max_jpeg_scans: int = limits.MAX_JPEG_SCANS
    # Each variant is a full resize and encode, so their number bounds the work per source.
    max_variants: int = limits.MAX_VARIANTS
    # Vector and document formats run large parsers on untrusted input: refused unless asked.
    allow_svg: bool = False
    allow_pdf: bool = False

    @property
    def max_samples(self) -> int:
        return self.max_pixels * limits.CHANNELS_PER_PIXEL_LIMIT

    @property
    def max_total_output_pixels(self) -> int:
        return self.max_pixels * limits.TOTAL_OUTPUT_PIXELS_PER_PIXEL_LIMIT


DEFAULT_LIMITS = Limits()
