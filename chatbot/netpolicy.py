"""Where a base URL typed by a user may lead this server (server-side request forgery).

A user's base URL is fetched by the web process, from inside the operator's network: left unchecked, it reaches
the cloud metadata service (169.254.169.254), the database, Redis or any internal admin page, with the answer
shown back as an error message. So, for base URLs set by users (never for the operator's, which are trusted):

- refused outright unless the operator sets ALLOW_USER_BASE_URLS;
- http and https only, no user name or password in the URL;
- the host is resolved and every address it resolves to must be public (not loopback, private, link-local,
  shared, multicast, reserved or unspecified, nor an IPv6 form wrapping one), unless the operator lists the host
  name, the address or its network in USER_BASE_URL_ALLOWED_HOSTS;
- checked when the URL is saved, again before each call (DNS can change in between), and once more as the
  connection is made: the HTTP clients for user base URLs resolve through `GuardedResolver`, so a name that
  rebinds to an internal address between the check and the connection is refused too; and they never follow
  redirects (a public endpoint could redirect to an internal one).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BaseUrlRefused(ValueError):
    """A user's base URL this server will not call; the message says why, for the user."""

    def __init__(self, reason: str, *, key=None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key  # the user's key it was set on (accounts.services.KeyUse), when known


class AddressRefused(OSError):
    """Raised while connecting: the host resolved to an address users may not reach."""


@dataclass(frozen=True)
class AllowList:
    names: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def from_settings(cls) -> AllowList:
        names, networks = set(), []
        for entry in settings.USER_BASE_URL_ALLOWED_HOSTS:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.add(entry)
        return cls(frozenset(names), tuple(networks))

    def allows_name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.networks)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): each is reached in the end."""
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo is not None:
        found.append(address.teredo[1])
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def why_not_public(address: IPAddress) -> str:
    """Empty when the address is a public one; otherwise what kind it is, in words."""
    # The IPv4 address an IPv6 one wraps first: it is where the connection ends up, and names the kind better.
    candidates: list[IPAddress] = [*_embedded_ipv4(address), address] if address.version == 6 else [address]
    for candidate in candidates:
        if candidate.is_loopback:
            return "a loopback address"
        if candidate.is_link_local:
            return "a link-local address"
        if candidate.is_unspecified:
            return "an unspecified address"
        if candidate.is_multicast:
            return "a multicast address"
        if candidate.is_private:
            return "a private address"
        if not candidate.is_global:
            return "a reserved address"  # shared address space (100.64.0.0/10) and the like
    return ""


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # an IPv6 zone ("fe80::1%eth0") is not part of it


def check_addresses(host: str, addresses: Iterable[str], allow: AllowList) -> None:
    """Raise BaseUrlRefused unless every address is public or allow-listed."""
    for text in addresses:
        address = _address(text)
        if allow.allows_address(address):
            continue
        kind = why_not_public(address)
        if kind:
            # The address itself is not said: the form would otherwise read out the operator's internal DNS.
            raise BaseUrlRefused(
                f"{host} leads to {kind}: this server does not let users point it at its own network. Ask the "
                "operator to list the host in USER_BASE_URL_ALLOWED_HOSTS if it should be reachable."
            )


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int


def parse_base_url(url: str) -> Target:
    """The URL's host and port, or BaseUrlRefused for what no base URL may look like."""
    if not user_base_urls_allowed():
        raise BaseUrlRefused("This server does not allow custom base URLs (the operator has not enabled them).")
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BaseUrlRefused(f"That is not a valid URL ({exc}).") from exc
    if parts.scheme.lower() not in {"http", "https"}:
        raise BaseUrlRefused("A base URL must start with http:// or https://.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise BaseUrlRefused("A base URL must not contain a user name or password; put the secret in the key field.")
    host = parts.hostname or ""
    if not host:
        raise BaseUrlRefused("A base URL needs a host name.")
    return Target(url=url, host=host, port=port or (443 if parts.scheme.lower() == "https" else 80))


def user_base_urls_allowed() -> bool:
    return bool(settings.ALLOW_USER_BASE_URLS)


def _resolved(infos: list) -> list[str]:
    return [info[4][0] for info in infos]


def check_user_base_url(url: str) -> str:
    """The URL, stripped, if a user may have this server call it; BaseUrlRefused with the reason otherwise."""
    target = parse_base_url(url)
    allow = AllowList.from_settings()
    if allow.allows_name(target.host):
        return target.url
    try:
        infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise BaseUrlRefused(f"The host {target.host} could not be found ({exc}).") from exc
    check_addresses(target.host, _resolved(infos), allow)
    return target.url


def refusal_in(exc: BaseException | None) -> BaseException | None:
    """The AddressRefused or BaseUrlRefused an SDK's connection error was caused by, if any."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, AddressRefused | BaseUrlRefused):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to an address users may not reach.

    aiohttp resolves names through its connector's resolver just before connecting, so this is the last check
    before a socket opens. Addresses typed as such never come here: the call-time check covers them, and they
    cannot change.
    """

    def __init__(self) -> None:
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        allow = AllowList.from_settings()
        if not allow.allows_name(host):
            try:
                check_addresses(host, [result["host"] for result in results], allow)
            except BaseUrlRefused as exc:
                raise AddressRefused(str(exc)) from exc
        return results

    async def close(self) -> None:
        await self._resolver.close()
