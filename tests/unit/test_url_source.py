"""URL sources: SSRF refusals, pinning, redirects, limits and error classes.

Every request goes to a real threaded http.server on 127.0.0.1. Nothing here sends traffic
to any other address: non-loopback cases test the address classifier directly, and host
names other than localhost are answered by a replaced resolver with loopback addresses.
"""

import asyncio
import datetime
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from processor.sources import SourceError, UrlFetchPolicy, fetch_url, is_public_address
from processor.sources import url as url_source
from schemas.errors import ErrorCode

IMAGE = b"\x89PNG\r\n\x1a\n pretend image bytes"

# --- A recording test server -------------------------------------------------------------

Route = Callable[["_Handler"], None]


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: "ImageServer") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up mid-body (size limit, timeout) is what several tests want.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        owner = self.server.owner
        owner.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = owner.routes.get(self.path.split("?")[0])
        if route is None:
            send(self, 404)
        else:
            route(self)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class ImageServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    # Slow handlers wait on this, so that stopping the server never waits on them.
    release: threading.Event = field(default_factory=threading.Event)
    tls: ssl.SSLContext | None = None

    def start(self) -> None:
        self._server = _Server(self)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


def ok(body: bytes = IMAGE) -> Route:
    return lambda handler: send(handler, 200, body, {"Content-Type": "image/png"})


def status(code: int) -> Route:
    return lambda handler: send(handler, code, b"nope")


def redirect(location: str, code: int = 302) -> Route:
    return lambda handler: send(handler, code, headers={"Location": location})


def chunked(chunks: list[bytes]) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Transfer-Encoding", "chunked")
        handler.send_header("Connection", "close")
        handler.end_headers()
        for chunk in chunks:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        handler.wfile.write(b"0\r\n\r\n")

    return route


def after(seconds: float, then: Route) -> Route:
    def route(handler: _Handler) -> None:
        handler.server.owner.release.wait(seconds)
        then(handler)

    return route


@pytest.fixture
def server() -> Iterator[ImageServer]:
    yield from _running(ImageServer())


@pytest.fixture
def other_server() -> Iterator[ImageServer]:
    yield from _running(ImageServer())


def _running(image_server: ImageServer) -> Iterator[ImageServer]:
    image_server.start()
    try:
        yield image_server
    finally:
        image_server.stop()


# --- Helpers -------------------------------------------------------------------------------


def policy(*allowlist: str, **overrides: Any) -> UrlFetchPolicy:
    return UrlFetchPolicy(allowlist=frozenset(allowlist), **overrides)


def fetch(url: str, fetch_policy: UrlFetchPolicy) -> bytes:
    return asyncio.run(fetch_url(url, fetch_policy))


def refused(url: str, fetch_policy: UrlFetchPolicy) -> SourceError:
    with pytest.raises(SourceError) as raised:
        fetch(url, fetch_policy)
    return raised.value


def assert_permanent(error: SourceError, code: ErrorCode) -> None:
    assert (error.code, error.permanent) == (code, True), error


def assert_transient(error: SourceError) -> None:
    assert (error.code, error.permanent) == (ErrorCode.SOURCE_UNAVAILABLE, False), error


def resolve_to(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer the named hosts from `answers` instead of DNS; returns the hosts asked for."""
    asked: list[str] = []
    real_lookup = url_source.lookup_host

    async def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        if host in answers:
            return answers[host]
        return await real_lookup(host, port)

    monkeypatch.setattr(url_source, "lookup_host", lookup)
    return asked


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- The address classifier ---------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.1",
        "::",
        "::1",
        "fe80::1",
        "fec0::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "2001:db8::1",
        "2001::1",
        "::ffff:10.0.0.1",
        "::ffff:127.0.0.1",
        "::ffff:0:a00:1",
        "64:ff9b::a00:1",
        "64:ff9b::7f00:1",
        "2002:a00:1::",
        "2002:7f00:1::",
        "::a00:1",
        "4000::1",
    ],
)
def test_non_public_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700::1111",
        "2a00:1450:4001::200e",
        "::ffff:93.184.216.34",
        "64:ff9b::5db8:d822",
        "2002:5db8:d822::1",
    ],
)
def test_public_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


def test_one_private_address_among_public_ones_forbids_the_host() -> None:
    addresses = [ipaddress.ip_address(a) for a in ("93.184.216.34", "2606:4700::1111", "10.0.0.1")]

    with pytest.raises(SourceError) as raised:
        url_source.require_public_addresses(addresses, "mixed.example")

    assert_permanent(raised.value, ErrorCode.URL_FORBIDDEN)
    # The client learns that the host is refused, not which internal address it has.
    assert "10.0.0.1" not in raised.value.message


# --- Invalid URLs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "http://user@example.com/a.png",
        "http://user:secret@example.com/a.png",
        "http://@example.com/a.png",
        "http://example.com\\@127.0.0.1/a.png",
        "http:///a.png",
        "http://",
        "example.com/a.png",
        "",
        "http://exa mple.com/",
        "http://example.com:0/",
        "http://example.com:99999/",
        "http://[fe80::1%25eth0]/",
        "http://[::1/",
    ],
)
def test_malformed_or_unsupported_urls_are_invalid_before_any_lookup(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = resolve_to(monkeypatch, {})

    assert_permanent(refused(url, policy()), ErrorCode.URL_INVALID)
    assert asked == []


# --- Refused before connecting --------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "017700000001", "[::1]"],
)
def test_loopback_hosts_are_forbidden_without_an_allowlist(host: str, server: ImageServer) -> None:
    error = refused(server.url("/x", host=host), policy())

    assert_permanent(error, ErrorCode.URL_FORBIDDEN)
    assert server.requests == []


def test_allowlist_is_matched_on_the_host_name_not_on_resolved_addresses(
    server: ImageServer,
) -> None:
    server.routes["/x"] = ok()
    trusted_ip = policy(f"127.0.0.1:{server.port}")

    error = refused(server.url("/x", host="localhost"), trusted_ip)

    assert_permanent(error, ErrorCode.URL_FORBIDDEN)
    assert server.requests == []


# --- The allowlist --------------------------------------------------------------------------


def test_allowlisted_host_and_port_fetches_the_bytes(server: ImageServer) -> None:
    server.routes["/img.png"] = ok()

    assert fetch(server.url("/img.png"), policy(f"127.0.0.1:{server.port}")) == IMAGE


def test_allowlist_entry_without_port_matches_any_port(
    server: ImageServer, other_server: ImageServer
) -> None:
    server.routes["/a"] = ok(b"a")
    other_server.routes["/b"] = ok(b"b")
    trusted = policy("127.0.0.1")

    assert fetch(server.url("/a"), trusted) == b"a"
    assert fetch(other_server.url("/b"), trusted) == b"b"


def test_allowlist_by_host_name_is_case_insensitive_and_keeps_the_host_header(
    server: ImageServer,
) -> None:
    server.routes["/x"] = ok()

    assert fetch(server.url("/x", host="LocalHost"), policy("LOCALHOST")) == IMAGE
    assert server.requests[0].headers["host"] == f"localhost:{server.port}"


def test_allowlist_host_port_does_not_match_another_port(
    server: ImageServer, other_server: ImageServer
) -> None:
    server.routes["/x"] = ok()

    error = refused(server.url("/x"), policy(f"127.0.0.1:{other_server.port}"))

    assert_permanent(error, ErrorCode.URL_FORBIDDEN)
    assert server.requests == []


@pytest.mark.parametrize("entry", ["", "http://example.com", "example.com/path", "a@example.com"])
def test_a_malformed_allowlist_entry_fails_when_the_policy_is_built(entry: str) -> None:
    with pytest.raises(ValueError, match="allowlist entry"):
        policy(entry)


# --- Pinning --------------------------------------------------------------------------------


def test_connection_goes_to_the_validated_address_not_a_second_lookup(
    server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/img.png"] = ok()
    # A rebinding resolver: the first answer is the server, any later one a loopback
    # address where nothing listens (so a second lookup could only fail the fetch).
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    asked: list[str] = []

    async def rebinding_lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    monkeypatch.setattr(url_source, "lookup_host", rebinding_lookup)
    # And the system resolver, which httpx would use if it connected by name.
    system_asked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        system_asked.append(str(host))
        if host == "images.test":
            raise socket.gaierror(socket.EAI_NONAME, "not for the system resolver")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)

    body = fetch(server.url("/img.png", host="images.test"), policy("images.test"))

    assert body == IMAGE
    assert asked == ["images.test"]
    assert "images.test" not in system_asked
    assert [r.headers["host"] for r in server.requests] == [f"images.test:{server.port}"]


def test_pinned_url_puts_the_address_in_brackets_for_ipv6_and_keeps_the_rest() -> None:
    target = url_source.parse_url("http://images.test:8080/a/b.png?size=2#frag")

    pinned = url_source.pinned_url(target, ipaddress.ip_address("2606:4700::1111"))

    assert str(pinned) == "http://[2606:4700::1111]:8080/a/b.png?size=2"
    assert target.host_header == "images.test:8080"


@pytest.mark.parametrize(
    ("url", "host_header"),
    [
        ("https://images.test/x", "images.test"),
        ("http://images.test:80/x", "images.test"),
        ("http://[2606:4700::1111]:8080/x", "[2606:4700::1111]:8080"),
        ("https://BÜCHER.example/x", "xn--bcher-kva.example"),
    ],
)
def test_host_header_names_the_url_host_as_sent_on_the_wire(url: str, host_header: str) -> None:
    assert url_source.parse_url(url).host_header == host_header


def test_allowlist_matches_internationalised_names_in_their_idna_form() -> None:
    target = url_source.parse_url("http://BÜCHER.example/x")

    assert url_source.is_allowlisted(target, frozenset({"bücher.example:80"}))
    assert url_source.is_allowlisted(target, frozenset({"xn--bcher-kva.example"}))
    assert not url_source.is_allowlisted(target, frozenset({"bücher.example:8080"}))


def test_next_validated_address_is_tried_when_one_refuses_the_connection(
    server: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/x"] = ok()
    # Nothing listens on 127.0.0.2: the first address refuses, as an unroutable IPv6 might.
    resolve_to(monkeypatch, {"images.test": ["127.0.0.2", "127.0.0.1"]})

    assert fetch(server.url("/x", host="images.test"), policy("images.test")) == IMAGE


# --- Redirects ------------------------------------------------------------------------------


def test_redirect_to_a_port_not_on_the_allowlist_is_forbidden(
    server: ImageServer, other_server: ImageServer
) -> None:
    other_server.routes["/internal"] = ok(b"secret")
    server.routes["/x"] = redirect(other_server.url("/internal"))

    error = refused(server.url("/x"), policy(f"127.0.0.1:{server.port}"))

    assert_permanent(error, ErrorCode.URL_FORBIDDEN)
    assert [r.path for r in server.requests] == ["/x"]
    assert other_server.requests == []


def test_relative_redirect_is_followed(server: ImageServer) -> None:
    server.routes["/a/start"] = redirect("../images/cat.png?size=2", code=301)
    server.routes["/images/cat.png"] = ok()

    assert fetch(server.url("/a/start"), policy(f"127.0.0.1:{server.port}")) == IMAGE
    assert [r.path for r in server.requests] == ["/a/start", "/images/cat.png?size=2"]


def test_redirect_chain_of_exactly_max_redirects_is_followed(server: ImageServer) -> None:
    for hop in range(3):
        server.routes[f"/r{hop}"] = redirect(f"/r{hop + 1}", code=307)
    server.routes["/r3"] = ok()

    assert fetch(server.url("/r0"), policy("127.0.0.1", max_redirects=3)) == IMAGE


def test_redirect_chain_longer_than_max_is_refused(server: ImageServer) -> None:
    for hop in range(4):
        server.routes[f"/r{hop}"] = redirect(f"/r{hop + 1}")
    server.routes["/r4"] = ok()

    error = refused(server.url("/r0"), policy("127.0.0.1", max_redirects=3))

    assert_permanent(error, ErrorCode.URL_INVALID)
    assert "redirects" in error.message
    assert [r.path for r in server.requests] == ["/r0", "/r1", "/r2", "/r3"]


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.1/x", "http://user@127.0.0.1/x"]
)
def test_redirect_to_an_invalid_url_is_invalid(location: str, server: ImageServer) -> None:
    server.routes["/x"] = redirect(location)

    assert_permanent(refused(server.url("/x"), policy("127.0.0.1")), ErrorCode.URL_INVALID)


def test_requests_carry_no_cookie_or_credentials_and_ask_for_images(
    server: ImageServer,
) -> None:
    server.routes["/x"] = lambda handler: send(
        handler, 302, headers={"Location": "/y", "Set-Cookie": "session=abc; Path=/"}
    )
    server.routes["/y"] = ok()

    fetch(server.url("/x"), policy("127.0.0.1", user_agent="pixelmill-test"))

    for request in server.requests:
        assert request.headers["accept"] == "image/*"
        assert request.headers["user-agent"] == "pixelmill-test"
        assert "cookie" not in request.headers
        assert "authorization" not in request.headers
    assert len(server.requests) == 2


# --- Status codes ---------------------------------------------------------------------------


@pytest.mark.parametrize("code", [400, 403, 404, 410, 300])
def test_client_errors_are_permanent_not_found(code: int, server: ImageServer) -> None:
    server.routes["/x"] = status(code)

    assert_permanent(refused(server.url("/x"), policy("127.0.0.1")), ErrorCode.SOURCE_NOT_FOUND)


@pytest.mark.parametrize("code", [500, 502, 503, 429, 408])
def test_server_errors_and_rate_limits_are_transient(code: int, server: ImageServer) -> None:
    server.routes["/x"] = status(code)

    assert_transient(refused(server.url("/x"), policy("127.0.0.1")))


def test_empty_body_is_returned_as_empty_bytes(server: ImageServer) -> None:
    server.routes["/x"] = ok(b"")

    assert fetch(server.url("/x"), policy("127.0.0.1")) == b""


# --- Size limit -----------------------------------------------------------------------------


def test_declared_length_over_the_limit_is_refused_without_reading_the_body(
    server: ImageServer,
) -> None:
    def announce_only(handler: BaseHTTPRequestHandler) -> None:
        # Declares a large body and never sends it: reading it would run into the timeout.
        handler.send_response(200)
        handler.send_header("Content-Length", str(10 * 1024 * 1024))
        handler.end_headers()
        handler.wfile.flush()
        server.release.wait(10)

    server.routes["/big"] = announce_only

    error = refused(server.url("/big"), policy("127.0.0.1", max_bytes=1024, timeout_seconds=5))

    assert_permanent(error, ErrorCode.FILE_TOO_LARGE)


def test_streamed_body_over_the_limit_is_refused_without_content_length(
    server: ImageServer,
) -> None:
    server.routes["/big"] = chunked([b"x" * 512] * 8)

    error = refused(server.url("/big"), policy("127.0.0.1", max_bytes=1024))

    assert_permanent(error, ErrorCode.FILE_TOO_LARGE)


def test_streamed_body_of_exactly_the_limit_is_accepted(server: ImageServer) -> None:
    server.routes["/fits"] = chunked([b"x" * 512] * 2)

    assert fetch(server.url("/fits"), policy("127.0.0.1", max_bytes=1024)) == b"x" * 1024


def test_content_encoded_body_is_refused(server: ImageServer) -> None:
    server.routes["/x"] = lambda handler: send(
        handler, 200, b"\x1f\x8b", {"Content-Encoding": "gzip"}
    )

    error = refused(server.url("/x"), policy("127.0.0.1"))

    assert_permanent(error, ErrorCode.UNSUPPORTED_FORMAT)
    assert server.requests[0].headers["accept-encoding"] == "identity"


# --- Time and connections -------------------------------------------------------------------


def test_slow_server_exceeding_the_timeout_is_transient(server: ImageServer) -> None:
    server.routes["/slow"] = after(10, ok())
    started = time.monotonic()

    error = refused(server.url("/slow"), policy("127.0.0.1", timeout_seconds=0.5))

    assert_transient(error)
    assert time.monotonic() - started < 3


def test_timeout_covers_the_whole_redirect_chain(server: ImageServer) -> None:
    # Each hop alone is well inside the timeout; together they are not.
    for hop in range(3):
        server.routes[f"/r{hop}"] = after(0.3, redirect(f"/r{hop + 1}"))
    server.routes["/r3"] = ok()

    error = refused(server.url("/r0"), policy("127.0.0.1", timeout_seconds=0.5))

    assert_transient(error)
    assert len(server.requests) < 4


def test_connection_refused_is_transient() -> None:
    port = closed_port()

    assert_transient(refused(f"http://127.0.0.1:{port}/x", policy(f"127.0.0.1:{port}")))


def test_temporary_dns_failure_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    async def failing_lookup(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(url_source, "lookup_host", failing_lookup)

    assert_transient(refused("http://images.test/x", policy()))


def test_unknown_host_is_permanent_not_found(monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_such_host(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(url_source, "lookup_host", no_such_host)

    assert_permanent(refused("http://images.test/x", policy()), ErrorCode.SOURCE_NOT_FOUND)


# --- https: pinned to the IP, verified against the name --------------------------------------


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert_file: Path
    key_file: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A test CA and a certificate for images.test only: no IP address in it."""
    directory = tmp_path_factory.mktemp("pki")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pixelmill test CA")])
    ca_cert = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "images.test")])
    cert = (
        _certificate(name, ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("images.test")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(directory / "ca.pem", directory / "cert.pem", directory / "key.pem")
    pki.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pki.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def _certificate(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: Any
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class TlsServer:
    server: ImageServer
    sni: list[str | None]


@pytest.fixture
def tls_server(pki: Pki, monkeypatch: pytest.MonkeyPatch) -> Iterator[TlsServer]:
    sni: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert_file, pki.key_file)
    context.sni_callback = lambda _socket, name, _context: sni.append(name)
    # The fetcher trusts the test CA instead of the public ones, nothing else changes.
    monkeypatch.setattr(
        url_source, "_ssl_context", lambda: ssl.create_default_context(cafile=pki.ca_file)
    )
    for image_server in _running(ImageServer(tls=context)):
        image_server.routes["/img.png"] = ok()
        yield TlsServer(image_server, sni)


def test_https_is_verified_against_the_host_name_while_connecting_to_the_pinned_ip(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = resolve_to(monkeypatch, {"images.test": ["127.0.0.1"]})
    server = tls_server.server

    # The certificate names images.test and no IP: verifying against 127.0.0.1 would fail.
    body = fetch(server.url("/img.png", host="images.test", scheme="https"), policy("images.test"))

    assert body == IMAGE
    assert asked == ["images.test"]
    assert tls_server.sni == ["images.test"]
    assert server.requests[0].headers["host"] == f"images.test:{server.port}"


def test_https_certificate_for_another_name_is_refused(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolve_to(monkeypatch, {"other.test": ["127.0.0.1"]})
    server = tls_server.server

    error = refused(server.url("/img.png", host="other.test", scheme="https"), policy("other.test"))

    assert_transient(error)
    # The name checked is the URL's host, not the address the socket went to.
    assert "certificate is not valid for 'other.test'" in str(error.__cause__)
    assert server.requests == []


def test_a_webhook_receivers_reply_body_is_never_read(server: ImageServer) -> None:
    # A receiver answering with an endless body: reading it would fill the sender's memory.
    offered = 512 * 1024 * 1024
    written = []

    def endless(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(offered))
        handler.end_headers()
        sent = 0
        try:
            while sent < offered:
                handler.wfile.write(bytes(1024 * 1024))
                sent += 1024 * 1024
        except OSError:
            pass
        written.append(sent)

    server.routes["/hook"] = endless
    policy = UrlFetchPolicy(allowlist=frozenset({"127.0.0.1"}))

    status = asyncio.run(url_source.post_to_url(server.url("/hook"), b"{}", {}, policy))

    assert status == 200
    (request,) = server.requests
    assert request.headers["accept-encoding"] == "identity"
    deadline = time.monotonic() + 10
    while not written and time.monotonic() < deadline:
        time.sleep(0.05)
    assert written and written[0] < offered // 4
