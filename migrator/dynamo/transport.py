"""How the data path reaches one side: which CA certificates it trusts and which proxy it goes through.

Both are resolved once, on the driver, the way botocore resolves them for the control plane, and travel to the
executors inside the picklable `dynamo.database.Database`, so an executor on another machine behaves like the driver's
boto3 client whatever its own files and environment hold:

- CA certificates: `caBundle` of the side, else `AWS_CA_BUNDLE`, else `ca_bundle` of the AWS profile (botocore's
  order). The PEM text itself is shipped (CA certificates are public). None: the system's CAs.
- Proxies: `HTTPS_PROXY` for https endpoints, `HTTP_PROXY` for http ones, `NO_PROXY` to bypass them (lower-case
  names win, as in urllib, whose `getproxies` and `proxy_bypass_environment` botocore uses). An https endpoint goes
  through an HTTP CONNECT tunnel, an http one through the proxy with the absolute URL as the request target.
  User and password in the proxy URL become a Proxy-Authorization header and are never logged.
"""

from __future__ import annotations

import base64
import functools
import os
import ssl
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from migrator.errors import ConfigError

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Proxy:
    """One HTTP proxy: where it listens, and the Proxy-Authorization value its URL's credentials make."""

    host: str
    port: int
    authorization: str | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """For messages: the proxy without its credentials."""
        return f"proxy {self.host}:{self.port}"


@dataclass(frozen=True)
class Transport:
    """CA certificates and proxies of one side, as plain data (see the module docstring)."""

    ca_pem: str | None = field(default=None, repr=False)  # None: trust the system's CAs
    ca_origin: str | None = None  # where the PEM came from, for messages: "source.caBundle: /etc/ca.pem"
    http_proxy: Proxy | None = None
    https_proxy: Proxy | None = None
    no_proxy: str | None = None  # NO_PROXY as given: host names, domain suffixes, addresses, or "*"

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy a request to scheme://host:port goes through, or None to connect directly."""
        proxy = self.https_proxy if scheme == "https" else self.http_proxy
        if proxy is None or (self.no_proxy and bypasses(self.no_proxy, host, port)):
            return None
        return proxy

    def describe(self) -> str:
        """What the data path trusts and goes through, for the driver's log (proxy credentials left out)."""
        trust = f"trusts the CA certificates of {self.ca_origin}" if self.ca_origin else "trusts the system's CAs"
        proxies = [f"{scheme} through {proxy.name}" for scheme, proxy in (("http", self.http_proxy),
                                                                           ("https", self.https_proxy)) if proxy]
        bypass = f" (NO_PROXY: {self.no_proxy})" if proxies and self.no_proxy else ""
        return f"{trust}; {', '.join(proxies) or 'no proxy'}{bypass}"

    def ssl_context(self) -> ssl.SSLContext:
        """A client context trusting the shipped CA certificates only, or the system's CAs when none were given."""
        return _context(self.ca_pem)


def bypasses(no_proxy: str, host: str, port: int) -> bool:
    """Whether NO_PROXY exempts host:port, by urllib's rule (the one botocore applies): `*`, an exact host name or
    address, `host:port`, or a domain suffix (`example.com` and `.example.com` both match `db.example.com`)."""
    name = f"[{host}]" if ":" in host else host
    return urllib.request.proxy_bypass_environment(f"{name}:{port}", {"no": no_proxy})


@functools.lru_cache(maxsize=8)
def _context(ca_pem: str | None) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()


def resolve(side: str, ca_bundle: str | None, url: str | None = None) -> Transport:
    """The Transport of one side, from its `caBundle` key (a path, or None) and this process's environment and AWS
    config. Run on the driver; ConfigError for a CA file that cannot be read or holds no certificate, or a proxy
    URL that cannot be used for the side's endpoint `url` (None: any)."""
    import botocore.session

    if ca_bundle is not None:
        path, origin = ca_bundle, f"{side}.caBundle"
    elif url is not None and not url.startswith("https:"):  # plain http: nothing to verify, nothing to ship
        path, origin = None, ""
    else:
        path = botocore.session.Session().get_config_variable("ca_bundle")
        origin = "AWS_CA_BUNDLE" if os.environ.get("AWS_CA_BUNDLE") else "ca_bundle of the AWS profile"
    ca_pem = _read_pem(path, origin) if path else None
    proxies = urllib.request.getproxies()
    no_proxy = proxies.get("no") or None
    if url is not None:  # a proxy this side never uses is not checked
        parts = urlsplit(url)
        bypassed = no_proxy and bypasses(no_proxy, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme])
        used = None if bypassed else parts.scheme
        proxies = {key: value for key, value in proxies.items() if key == used}
    return Transport(
        ca_pem=ca_pem,
        ca_origin=f"{origin}: {path}" if path else None,
        http_proxy=_proxy(proxies.get("http"), "HTTP_PROXY"),
        https_proxy=_proxy(proxies.get("https"), "HTTPS_PROXY"),
        no_proxy=no_proxy,
    )


def _read_pem(path: str, origin: str) -> str:
    fix = "give the path of a PEM file of the CA certificates that signed the endpoint's certificate"
    try:
        with open(path, encoding="ascii") as file:
            pem = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"{origin}: cannot read {path!r}: {reason}; {fix}") from None
    try:
        _context(pem)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{origin}: no PEM certificate in {path!r} ({exc.__class__.__name__}); {fix}") from None
    return pem


def _proxy(url: str | None, variable: str) -> Proxy | None:
    """A Proxy from a proxy URL as botocore reads it (`host:port` and `//host:port` mean http://)."""
    if not url:
        return None
    if not url.startswith(("http:", "https:")):
        url = ("http:" if url.startswith("//") else "http://") + url
    try:  # messages never quote the URL: it may carry a password
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    except ValueError:
        host = None
    if not host:
        raise ConfigError(f"{variable}: not a proxy URL; write http://HOST:PORT (or http://USER:PASSWORD@HOST:PORT)")
    where = f"{host}:{port}"
    if parts.scheme != "http":
        raise ConfigError(f"{variable}: the data path reaches proxies over plain HTTP only, got an https:// proxy "
                          f"at {where}; write http://{where}, or unset {variable}")
    authorization = None
    if parts.username and parts.password:  # botocore sends credentials only when both are there
        token = f"{unquote(parts.username)}:{unquote(parts.password)}".encode()
        authorization = "Basic " + base64.b64encode(token).decode("ascii")
    return Proxy(host, port, authorization)
