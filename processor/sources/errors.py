"""The typed error every source fetch raises."""

from schemas.errors import ErrorCode

# Codes whose cause may pass on its own; everything else is a property of the input and
# retrying it would only repeat the failure.
_TRANSIENT_CODES = frozenset(
    {ErrorCode.SOURCE_UNAVAILABLE, ErrorCode.IO_ERROR, ErrorCode.INTERNAL_ERROR}
)


class SourceError(Exception):
    """A source could not be fetched; `permanent` tells the job whether to retry.

    `message` is shown to the client, so it names the URL's host at most, never a resolved
    address (that would let a caller map the internal network through DNS).
    """

    def __init__(self, code: ErrorCode, message: str, *, permanent: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.permanent = code not in _TRANSIENT_CODES if permanent is None else permanent

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return f"SourceError({self.code!r}, {self.message!r}, permanent={self.permanent})"
