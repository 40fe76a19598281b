"""Image formats and processing options shared by the API, the processor and the engine."""

from enum import StrEnum


class Fit(StrEnum):
    """How a picture is fitted into a width x height box."""

    INSIDE = "inside"  # within the box, aspect kept
    COVER = "cover"  # fills the box, aspect kept, the overflow cropped
    FILL = "fill"  # stretched to the box
    CONTAIN = "contain"  # within the box, then padded to it with the background colour


class Gravity(StrEnum):
    """Which part of a picture `cover` keeps."""

    CENTRE = "centre"
    SMART = "smart"  # the most interesting region, by libvips' attention measure

    @classmethod
    def _missing_(cls, value: object) -> "Gravity | None":
        return cls.CENTRE if value == "center" else None


class OutputFormat(StrEnum):
    JPG = "jpg"
    PNG = "png"
    WEBP = "webp"
    AVIF = "avif"
    GIF = "gif"

    @classmethod
    def _missing_(cls, value: object) -> "OutputFormat | None":
        return cls.JPG if value == "jpeg" else None

    @property
    def has_alpha(self) -> bool:
        return self is not OutputFormat.JPG

    @property
    def animates(self) -> bool:
        return self in (OutputFormat.GIF, OutputFormat.WEBP)


class SourceFormat(StrEnum):
    """A source's format as told by its content."""

    JPEG = "jpeg"
    PNG = "png"
    WEBP = "webp"
    GIF = "gif"
    TIFF = "tiff"
    HEIC = "heic"
    AVIF = "avif"
    SVG = "svg"
    PDF = "pdf"
