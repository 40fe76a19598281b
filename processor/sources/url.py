"""Fetch an image source from an http(s) URL without letting the URL reach inside.

The URL comes from a client, so it is hostile until proven otherwise (SSRF). Every hop,
the first and each redirect, goes through the same steps:

1. parse once (httpx.URL) and refuse what is not plain http(s) with a host and no userinfo;
2. resolve the host ourselves and refuse if ANY address is not public unicast, unless the
   host is on the allowlist (matched on the host name, never on addresses);
3. connect to one of those validated addresses, never to the name: the request URL
   carries the IP, the Host header and, for https, SNI and certificate verification carry
   the name. A second DNS answer (rebinding) therefore never decides where we connect.

Redirects are followed by hand so that each Location goes through 1-3 again. One asyncio
timeout bounds the whole fetch, redirects included. Bodies are bounded by Content-Length
up front and by counting the bytes as they stream in.

Error codes: url_invalid (bad URL, bad redirect target, more than `max_redirects`
redirects), url_forbidden (non-public address), source_not_found (4xx, unknown host),
file_too_large, unsupported_format (a content-encoded body), all permanent;
source_unavailable (5xx, 408, 429, timeouts, connection and TLS failures, temporary DNS
failures) is transient.
"""

import asyncio
import functools
import ipaddress
import logging
import re
import socket
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import certifi
import httpx

from processor.sources.errors import SourceError
from schemas.errors import ErrorCode

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# 408 is the server's own timeout and 429 its rate limit: both say "later", not "never".
_TRANSIENT_4XX = frozenset({408, 429})
# A DNS name: letters, digits, hyphens, underscores (seen in real CDN names), dots. Decimal,
# octal and hex IPv4 spellings also fit; they are caught after resolution like any name.
_HOST_NAME = re.compile(r"^(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}\.?$")


@dataclass(frozen=True)
class UrlFetchPolicy:
    max_bytes: int = 50 * 1024 * 1024
    # Total wall time for the whole fetch, DNS and redirects included.
    timeout_seconds: float = 10.0
    max_redirects: int = 3
    # Trusted "host" (any port) or "host:port" entries that skip the address check.
    allowlist: frozenset[str] = frozenset()
    user_agent: str = "pixelmill/0.1 (+image fetcher)"

    def __post_init__(self) -> None:
        # Configuration mistakes surface when the policy is built, not on the first job.
        if self.max_bytes < 0:
            raise ValueError("max_bytes must be >= 0")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be > 0")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must be >= 0")
        _allowlist_rules(frozenset(self.allowlist))


async def fetch_url(url: str, policy: UrlFetchPolicy) -> bytes:
    """The body of `url`, or a SourceError saying why not and whether to retry."""
    target = parse_url(url)
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            return await _follow(target, policy)
    except TimeoutError as exc:
        raise _unavailable(target, f"no answer within {policy.timeout_seconds:g} s") from exc
    except httpx.TimeoutException as exc:
        raise _unavailable(target, "timed out") from exc
    except httpx.HTTPError as exc:
        # Connection refused or reset, TLS failure, a broken HTTP exchange: all may pass.
        raise _unavailable(target, f"could not fetch ({type(exc).__name__})") from exc


async def post_to_url(
    url: str, body: bytes, headers: dict[str, str], policy: UrlFetchPolicy
) -> int:
    """POST `body` to `url` under the same address rules as a fetch; returns the status.

    For webhooks: no redirect is followed (a 3xx is the receiver's answer), and the
    receiver's body is never read: its status is the answer, and a body could be made to
    fill the memory of whoever reads it.
    """
    target = parse_url(url)
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            address = (await resolve(target, policy))[0]
            async with (
                _client(policy) as client,
                client.stream(
                    "POST",
                    pinned_url(target, address),
                    content=body,
                    headers={
                        **headers,
                        "Host": target.host_header,
                        "User-Agent": policy.user_agent,
                        "Accept-Encoding": "identity",
                        "Connection": "close",
                    },
                    extensions=_extensions(target),
                ) as response,
            ):
                return response.status_code
    except TimeoutError as exc:
        raise _unavailable(target, f"no answer within {policy.timeout_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise _unavailable(target, f"could not deliver ({type(exc).__name__})") from exc


# --- URLs ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A validated URL: the one parse every later decision is made from."""

    url: httpx.URL
    host: str  # ASCII (IDNA) and lowercase, no brackets around IPv6
    port: int  # effective port, the scheme's default filled in

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = _DEFAULT_PORTS[self.url.scheme]
        return host if self.port == default else f"{host}:{self.port}"


def parse_url(raw: str) -> Target:
    """Validate a client's URL; no network."""
    if _has_userinfo(raw):
        raise _invalid("a URL must not carry a user name or password")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _invalid("malformed URL") from exc
    return _validate(url)


def _has_userinfo(raw: str) -> bool:
    # httpx drops an empty userinfo ("http://@host/") and the stdlib splits a backslash
    # differently; refusing any "@" in either view of the authority leaves no ambiguity.
    try:
        netloc = urlsplit(raw).netloc
    except ValueError:
        return False  # httpx will refuse it as malformed
    return "@" in netloc


def _validate(url: httpx.URL) -> Target:
    if url.scheme not in _DEFAULT_PORTS:
        raise _invalid("only http and https URLs are fetched")
    if url.userinfo:
        raise _invalid("a URL must not carry a user name or password")
    host = url.raw_host.decode("ascii").lower()
    if not _valid_host(host):
        raise _invalid("the URL has no valid host")
    port = url.port if url.port is not None else _DEFAULT_PORTS[url.scheme]
    if not 1 <= port <= 65535:
        raise _invalid("the URL's port is out of range")
    return Target(url=url.copy_with(fragment=None), host=host, port=port)


def _valid_host(host: str) -> bool:
    if ":" in host:
        # An IPv6 literal; a zone ("%eth0") would name a local interface.
        return "%" not in host and _parses_as_ipv6(host)
    return len(host) <= 253 and _HOST_NAME.match(host) is not None


def _parses_as_ipv6(host: str) -> bool:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return False
    return True


# --- The allowlist -----------------------------------------------------------------------


@functools.cache
def _allowlist_rules(entries: frozenset[str]) -> frozenset[tuple[str, int | None]]:
    """("host", port) pairs, port None for "any port"; hosts normalised like URL hosts."""
    return frozenset(_allowlist_rule(entry) for entry in entries)


def _allowlist_rule(entry: str) -> tuple[str, int | None]:
    try:
        url = httpx.URL(f"http://{entry.strip()}")
    except httpx.InvalidURL as exc:
        raise ValueError(f"allowlist entry {entry!r} is not host or host:port") from exc
    host = url.raw_host.decode("ascii").lower()
    if url.userinfo or url.raw_path != b"/" or url.query or not _valid_host(host):
        raise ValueError(f"allowlist entry {entry!r} is not host or host:port")
    return host.rstrip("."), url.port


def is_allowlisted(target: Target, allowlist: frozenset[str]) -> bool:
    """Whether the URL's own host name (never an address it resolves to) is trusted."""
    rules = _allowlist_rules(frozenset(allowlist))
    host = target.host.rstrip(".")  # "example.com." is the same DNS name
    return (host, None) in rules or (host, target.port) in rules


# --- Addresses -------------------------------------------------------------------------

# Everything IANA's special-purpose registry (and RFC 6890's successors) sets apart from
# the public internet. Spelled out rather than trusting `ipaddress.is_global` alone,
# whose answers changed between Python patch releases.
_NON_PUBLIC_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", 0.0.0.0 reaches the local host
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata services live here
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast, deprecated
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255 broadcast
    )
)
# Public IPv6 unicast is allocated only from 2000::/3; these are the carve-outs inside it.
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_NON_PUBLIC_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "2001::/23",  # IETF protocol assignments: Teredo, benchmarking, ORCHID
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing SIDs
    )
)
# IPv6 forms that carry an IPv4 address the packet really goes to: judge that address.
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix


def is_public_address(address: IPAddress) -> bool:
    """True only for a public unicast address; anything unusual counts as not public."""
    if isinstance(address, ipaddress.IPv6Address):
        return _is_public_v6(address)
    if any(address in net for net in _NON_PUBLIC_V4):
        return False
    return not _flagged_by_stdlib(address)


def _is_public_v6(address: ipaddress.IPv6Address) -> bool:
    if address.scope_id:
        return False  # only link- and site-local addresses have a zone
    embedded = embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if address not in _GLOBAL_UNICAST_V6 or any(address in net for net in _NON_PUBLIC_V6):
        return False
    return not (address.is_site_local or _flagged_by_stdlib(address))


def _flagged_by_stdlib(address: IPAddress) -> bool:
    # Belt and braces over the tables above: any stdlib doubt is a refusal.
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped, SIIT, NAT64 or 6to4 address leads to, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _IPV4_TRANSLATED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour


def require_public_addresses(addresses: Sequence[IPAddress], host: str) -> None:
    """Refuse the host if any address is not public: a client must not get to pick
    which of a mixed answer we use."""
    refused = [address for address in addresses if not is_public_address(address)]
    if refused:
        # The addresses go to the log for operators, never into the client's message.
        log.warning("refused URL host %s: non-public addresses %s", host, refused)
        raise SourceError(ErrorCode.URL_FORBIDDEN, f"{host} resolves to a non-public address")


# --- DNS -----------------------------------------------------------------------------------


async def lookup_host(host: str, port: int) -> list[str]:
    """Every address `host` resolves to: the module's only DNS access (tests replace it)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve(target: Target, policy: UrlFetchPolicy) -> list[IPAddress]:
    """The addresses this hop may connect to, in resolver order, checked unless trusted."""
    try:
        raw = await lookup_host(target.host, target.port)
    except socket.gaierror as exc:
        raise _dns_error(target, exc) from exc
    except UnicodeError as exc:  # a label over 63 characters fails the IDNA codec
        raise _invalid("the URL has no valid host") from exc
    addresses = _parse_addresses(raw, target.host)
    if not addresses:
        raise _unavailable(target, "the host resolved to no address")
    if not is_allowlisted(target, policy.allowlist):
        require_public_addresses(addresses, target.host)
    return addresses


def _parse_addresses(raw: Iterable[str], host: str) -> list[IPAddress]:
    addresses: list[IPAddress] = []
    for text in raw:
        try:
            address = ipaddress.ip_address(text)
        except ValueError as exc:
            # Not an address we can judge, so not one we may connect to.
            raise SourceError(ErrorCode.URL_FORBIDDEN, f"{host} resolves oddly") from exc
        if address not in addresses:
            addresses.append(address)
    return addresses


def _dns_error(target: Target, exc: socket.gaierror) -> SourceError:
    # A name that does not exist stays that way; anything else (EAI_AGAIN, a resolver
    # failure) is the resolver's trouble and may pass.
    if exc.errno in {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}:
        return SourceError(ErrorCode.SOURCE_NOT_FOUND, f"{target.host} does not exist")
    return _unavailable(target, "the host name could not be resolved now")


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Redirect:
    location: str


async def _follow(target: Target, policy: UrlFetchPolicy) -> bytes:
    for _ in range(policy.max_redirects + 1):
        outcome = await _fetch_hop(target, policy)
        if not isinstance(outcome, _Redirect):
            return outcome
        target = _redirect_target(target, outcome.location)
    raise _invalid(f"more than {policy.max_redirects} redirects")


def _redirect_target(current: Target, location: str) -> Target:
    # Joined against the URL as written (host name), never the pinned IP form.
    if _has_userinfo(location):
        raise _invalid("a redirect must not carry a user name or password")
    try:
        joined = current.url.join(location)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _invalid("the redirect target is malformed") from exc
    return _validate(joined)


async def _fetch_hop(target: Target, policy: UrlFetchPolicy) -> bytes | _Redirect:
    addresses = await resolve(target, policy)
    # Try the validated addresses in resolver order, as a browser would, so that a host
    # with an unreachable IPv6 address still works over IPv4.
    for address in addresses[:-1]:
        try:
            return await _request(target, address, policy)
        except httpx.ConnectError:
            continue
    return await _request(target, addresses[-1], policy)


async def _request(target: Target, address: IPAddress, policy: UrlFetchPolicy) -> bytes | _Redirect:
    # A fresh client per hop: no pooled connection, TLS session or cookie carries over from
    # one host to the next.
    async with (
        _client(policy) as client,
        client.stream(
            "GET",
            pinned_url(target, address),
            headers=_headers(target, policy),
            extensions=_extensions(target),
        ) as response,
    ):
        location = response.headers.get("location")
        if response.status_code in _REDIRECT_STATUSES and location is not None:
            return _Redirect(location)
        _check_status(response.status_code, target)
        return await _read_body(response, target, policy.max_bytes)


def _client(policy: UrlFetchPolicy) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=_ssl_context(),
        trust_env=False,  # no proxies, no .netrc credentials from the environment
        follow_redirects=False,  # every redirect is validated here instead
        timeout=httpx.Timeout(policy.timeout_seconds),
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=0),
    )


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Built once: loading the CA bundle is the slow part of a TLS client.
    return ssl.create_default_context(cafile=certifi.where())


def pinned_url(target: Target, address: IPAddress) -> httpx.URL:
    """The URL with its host replaced by the validated address: the connection target."""
    return target.url.copy_with(host=str(address))


def _headers(target: Target, policy: UrlFetchPolicy) -> dict[str, str]:
    return {
        "Host": target.host_header,
        "Accept": "image/*",
        # Images are compressed already; a decoded stream could also outgrow the byte
        # count of what arrived, so ask for the bytes as they are.
        "Accept-Encoding": "identity",
        "User-Agent": policy.user_agent,
        "Connection": "close",
    }


def _extensions(target: Target) -> dict[str, str]:
    # httpcore uses sni_hostname both for SNI and as the name the certificate must carry,
    # so TLS is checked against the host name while the socket goes to the pinned IP.
    return {"sni_hostname": target.host} if target.url.scheme == "https" else {}


def _check_status(status: int, target: Target) -> None:
    if 200 <= status < 300:
        return
    if status in _TRANSIENT_4XX or not 300 <= status < 500:
        raise _unavailable(target, f"answered HTTP {status}")
    # 4xx, and 3xx that are not a followable redirect: asking again changes nothing.
    raise SourceError(ErrorCode.SOURCE_NOT_FOUND, f"{target.host} answered HTTP {status}")


async def _read_body(response: httpx.Response, target: Target, max_bytes: int) -> bytes:
    _refuse_declared_size(response, target, max_bytes)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        # Decoding would let a small body expand without bound before we could count it.
        raise SourceError(
            ErrorCode.UNSUPPORTED_FORMAT, f"{target.host} sent a {encoding}-encoded body"
        )
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > max_bytes:
            raise _too_large(target, max_bytes)
    return bytes(body)


def _refuse_declared_size(response: httpx.Response, target: Target, max_bytes: int) -> None:
    declared = response.headers.get("content-length")
    # h11 has already refused a malformed Content-Length, so digits are all that is left.
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(target, max_bytes)


# --- Errors ----------------------------------------------------------------------------------


def _invalid(message: str) -> SourceError:
    return SourceError(ErrorCode.URL_INVALID, message)


def _unavailable(target: Target, message: str) -> SourceError:
    return SourceError(ErrorCode.SOURCE_UNAVAILABLE, f"{target.host}: {message}")


def _too_large(target: Target, max_bytes: int) -> SourceError:
    return SourceError(ErrorCode.FILE_TOO_LARGE, f"{target.host}: body over {max_bytes} bytes")
