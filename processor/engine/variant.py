"""One requested output of a source: its size, fit, format and quality."""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from processor.engine.errors import InvalidParameter
from schemas.images import Fit, Gravity, OutputFormat

MAX_SIDE = 10_000
DEFAULT_NAME = "default"
# Variant names end up in object keys and file names.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

Colour = tuple[int, int, int]
WHITE: Colour = (255, 255, 255)

E = TypeVar("E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Variant:
    """Validated on creation: a bad value raises `InvalidParameter`.

    Enum fields also accept their string values, so that callers holding plain JSON or
    command-line text need no conversion of their own.
    """

    name: str = DEFAULT_NAME
    width: int | None = None
    height: int | None = None
    fit: Fit = Fit.INSIDE
    gravity: Gravity = Gravity.CENTRE
    format: OutputFormat | None = None
    quality: int | None = None
    enlarge: bool = False
    background: Colour = WHITE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise InvalidParameter(
                f"variant name {self.name!r}: 1 to 64 letters, digits, '-' or '_'"
            )
        _check_int(self, "width", self.width, 1, MAX_SIDE)
        _check_int(self, "height", self.height, 1, MAX_SIDE)
        _check_int(self, "quality", self.quality, 1, 100)
        object.__setattr__(self, "fit", _coerce(self, "fit", Fit, self.fit))
        object.__setattr__(self, "gravity", _coerce(self, "gravity", Gravity, self.gravity))
        if self.format is not None:
            object.__setattr__(self, "format", _coerce(self, "format", OutputFormat, self.format))
        if not isinstance(self.enlarge, bool):
            raise InvalidParameter(f"variant {self.name}: enlarge must be true or false")
        _check_background(self)


def check_variants(variants: Sequence[Variant], max_variants: int) -> None:
    if not variants:
        raise InvalidParameter("no variants requested")
    if len(variants) > max_variants:
        raise InvalidParameter(f"{len(variants)} variants requested, at most {max_variants}")
    names = [variant.name for variant in variants]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidParameter(f"variant names must be unique: {', '.join(duplicates)}")


def _check_int(variant: Variant, field: str, value: object, low: int, high: int) -> None:
    if value is None:
        return
    # bool is an int subclass; True as a width is a caller's mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidParameter(
            f"variant {variant.name}: {field} must be an integer from {low} to {high}, "
            f"not {value!r}"
        )


def _coerce(variant: Variant, field: str, enum: type[E], value: object) -> E:
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    choices = ", ".join(member.value for member in enum)
    raise InvalidParameter(
        f"variant {variant.name}: {field} must be one of {choices}, not {value!r}"
    )


def _check_background(variant: Variant) -> None:
    colour = variant.background
    if (
        not isinstance(colour, tuple)
        or len(colour) != 3
        or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in colour)
    ):
        raise InvalidParameter(
            f"variant {variant.name}: background must be three integers 0..255, not {colour!r}"
        )
