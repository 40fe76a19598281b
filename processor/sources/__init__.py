"""Where the processor gets an image's bytes from: a client's URL (with SSRF protection)."""

from processor.sources.errors import SourceError
from processor.sources.url import UrlFetchPolicy, fetch_url, is_public_address, post_to_url

__all__ = ["SourceError", "UrlFetchPolicy", "fetch_url", "is_public_address", "post_to_url"]
