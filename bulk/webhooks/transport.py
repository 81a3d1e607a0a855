"""The webhook HTTP client: pooled, with timeouts, no redirects, and no way into internal networks.

A URL's host is resolved when the connection is made, and the connection goes to an address that
was checked: loopback, private, link-local and other non-public addresses are refused (unless
allowed), whatever the host name says. Checking only the name when the URL is configured would let
a name that later resolves to an internal address (DNS rebinding) reach internal services.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlparse

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, NameResolutionError, NewConnectionError
from urllib3.exceptions import TimeoutError as ReceiverTimeout
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

# Enough of a receiver's answer to show why it refused; the rest is not read.
ANSWER_EXCERPT_BYTES = 1024


class AddressNotAllowed(Exception):
    """The host resolved only to addresses webhooks may not reach (not raised as an HTTP error)."""


def is_public(address: str) -> bool:
    """A globally routable unicast address (an IPv4-mapped IPv6 address counts as its IPv4 one)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _GuardedConnection(HTTPConnection):
    allow_private = False

    def _new_conn(self) -> socket.socket:
        """Resolve, keep the allowed addresses, connect to one of them (never resolve twice)."""
        host = self._dns_host.strip("[]")
        try:
            found = socket.getaddrinfo(host, self.port, allowed_gai_family(), socket.SOCK_STREAM)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        allowed = [info for info in found if self.allow_private or is_public(str(info[4][0]))]
        if not allowed:
            raise AddressNotAllowed(self.host)
        failure: OSError | None = None
        for family, kind, protocol, _, address in allowed:
            sock = socket.socket(family, kind, protocol)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                sock.connect(address)
                return sock
            except TimeoutError as error:
                sock.close()
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from error
            except OSError as error:
                sock.close()
                failure = error
        raise NewConnectionError(self, f"Failed to establish a new connection: {failure}")


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    """TLS on top of the guarded socket; the certificate is checked against the URL's host name."""


@dataclass(frozen=True)
class Answer:
    """What one attempt got: an HTTP status (and `Retry-After`), or the reason there was none."""

    status: int | None = None
    retry_after: str | None = None
    excerpt: str = ""
    error: str | None = None
    # No HTTP answer, but worth trying again (timeout, refused or reset connection, DNS failure).
    transient: bool = False


class Transport:
    """One pooled, thread-safe HTTP client per process for every webhook URL."""

    def __init__(self, timeout: float, allow_private: bool, pool_size: int) -> None:
        self.timeout = timeout
        connection = type("Connection", (_GuardedConnection,), {"allow_private": allow_private})
        tls_connection = type("TLSConnection", (_GuardedHTTPSConnection,), {"allow_private": allow_private})
        self._http = urllib3.PoolManager(maxsize=pool_size, timeout=urllib3.Timeout(connect=timeout, read=timeout),
                                         retries=False)
        self._http.pool_classes_by_scheme = {
            "http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": connection}),
            "https": type("TLSPool", (HTTPSConnectionPool,), {"ConnectionCls": tls_connection}),
        }

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        """POST `body`; never raises for what the network or the receiver does."""
        if urlparse(url).scheme not in ("http", "https"):
            return Answer(error="only http and https URLs are allowed")
        try:
            response = self._http.request("POST", url, body=body, headers=headers, redirect=False,
                                          preload_content=False)
        except AddressNotAllowed:
            return Answer(error="the webhook host's address is not public (BULK_WEBHOOK_ALLOW_PRIVATE is off)")
        except NameResolutionError:
            return Answer(error="the webhook host name could not be resolved", transient=True)
        except NewConnectionError:  # before the timeout: urllib3 derives it from that
            return Answer(error="the connection was refused or failed", transient=True)
        except ReceiverTimeout:
            return Answer(error=f"no answer within {self.timeout:g} seconds", transient=True)
        except HTTPError as error:
            return Answer(error=f"the connection failed ({type(error).__name__})", transient=True)
        try:
            excerpt = response.read(ANSWER_EXCERPT_BYTES, decode_content=False)
        except (HTTPError, OSError):
            excerpt = b""
        finally:
            # The rest of a long answer is not wanted: drop the connection rather than read it.
            response.close()
            response.release_conn()
        return Answer(response.status, response.headers.get("Retry-After"),
                      excerpt.decode("utf-8", errors="replace"))

    def close(self) -> None:
        self._http.clear()
