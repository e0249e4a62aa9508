"""Which IP addresses a fetch on a catalog's or a provider's behalf may connect to: public unicast only."""

from __future__ import annotations

import asyncio
import ipaddress
import socket

__all__ = ["IPAddress", "internal_reason", "resolve"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud metadata endpoints outside link-local space (169.254.169.254 and fd00:ec2::254 are caught as
# link-local / private already): Alibaba's sits in the carrier-grade NAT block, Oracle's in 192.0.0.0/24.
_METADATA = (ipaddress.ip_network("100.100.100.200/32"), ipaddress.ip_network("192.0.0.192/32"))


def internal_reason(address: IPAddress) -> str | None:
    """Why `address` is not a public unicast address (loopback, private, ...), or None when it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return internal_reason(address.ipv4_mapped)  # ::ffff:127.0.0.1 reaches 127.0.0.1
    if any(address in network for network in _METADATA):
        return "cloud metadata"
    for reason, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flag:
            return reason
    # is_global is False for the rest of IANA's special-purpose space (shared NAT, benchmarking, ...).
    return None if address.is_global else "special-purpose"


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal stands for itself).

    Raises:
        OSError: the name does not resolve.
    """
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scoped IPv6 answer ("fe80::1%eth0") carries its zone after a percent sign.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
