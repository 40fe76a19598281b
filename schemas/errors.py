"""Error codes shared by the engine, the processor and the API.

The values are a public contract: clients match on them, so a code is never renamed.
"""

from enum import StrEnum


class ErrorCode(StrEnum):
    EMPTY_FILE = "empty_file"
    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    CORRUPT_IMAGE = "corrupt_image"
    TOO_MANY_PIXELS = "too_many_pixels"
    TOO_MANY_FRAMES = "too_many_frames"
    INVALID_PARAMETER = "invalid_parameter"
    # A local file could not be read or written (the CLI).
    IO_ERROR = "io_error"
    # Anything unforeseen; treated as transient because it may be the machine, not the input.
    INTERNAL_ERROR = "internal_error"
    # Object storage did not answer or failed; transient.
    STORAGE_UNAVAILABLE = "storage_unavailable"
    # Every attempt failed transiently; the image is given up and its job sent to the DLQ.
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    # URL sources. A URL that is malformed, not http(s), carries credentials, or redirects
    # too often; permanent.
    URL_INVALID = "url_invalid"
    # The URL's host resolves to an address pixelmill must not reach (private, loopback,
    # link-local, ...); permanent.
    URL_FORBIDDEN = "url_forbidden"
    # The source answered 404, 410 or another 4xx, or its host does not exist; permanent.
    SOURCE_NOT_FOUND = "source_not_found"
    # The source failed in a way that may pass: 5xx, 429, timeout, connection or DNS
    # trouble; transient.
    SOURCE_UNAVAILABLE = "source_unavailable"
