"""The chaos run's hosts: one network namespace per host, one veth pair per link between two.

Every host that talks to another has a point-to-point link of its own to it, so one link can
be cut (`ip link set … down`) while the host's other links stay up: a relay that cannot reach
Redis but still reaches PostgreSQL, a worker cut off from PostgreSQL only, one relay host cut
off from everything. The harness itself (the load, the checks) is the host "harness": the
root namespace, with links to the database, Redis and web hosts only.

Addresses are in one 10.x.0.0/16 network that no interface of this machine uses when the run
starts; the run creates every address, link and namespace it uses and deletes them at the end.
Nothing else on the machine is ever cut. Needs root (network namespaces).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import subprocess
from dataclasses import dataclass, field

HARNESS = "harness"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False, timeout=30)  # noqa: S603, S607
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def free_network() -> ipaddress.IPv4Network:
    """A 10.x.0.0/16 that no address or route of the root namespace overlaps."""
    used = []
    for line in ip("-4", "-o", "addr", "show").stdout.splitlines() + ip("-4", "route", "show").stdout.splitlines():
        for word in line.split():
            with contextlib.suppress(ValueError):
                used.append(ipaddress.ip_network(word, strict=False))
    for second in range(200, 250):
        candidate = ipaddress.IPv4Network(f"10.{second}.0.0/16")
        if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
            return candidate
    raise RuntimeError("no free 10.x.0.0/16 network for the chaos run's hosts")


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    index: int

    def side(self, host: str) -> str:
        return "a" if host == self.a else "b"


@dataclass
class Network:
    """Hosts (namespaces) and the links between them; `create()` builds them, `destroy()` removes them."""

    links_of: list[tuple[str, str]]
    tag: str = field(default_factory=lambda: f"fc{os.getpid() % 100000}")
    network: ipaddress.IPv4Network = field(default_factory=free_network)
    links: list[Link] = field(init=False)
    created: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.links = [Link(a, b, index) for index, (a, b) in enumerate(self.links_of, start=1)]

    @property
    def hosts(self) -> list[str]:
        return sorted({host for link in self.links for host in (link.a, link.b)} - {HARNESS})

    def namespace(self, host: str) -> str:
        return f"{self.tag}-{host}"

    def device(self, link: Link, host: str) -> str:
        return f"{self.tag}l{link.index}{link.side(host)}"  # at most 15 characters

    def link(self, host: str, peer: str) -> Link:
        for link in self.links:
            if {link.a, link.b} == {host, peer}:
                return link
        raise KeyError(f"no link between {host} and {peer}")

    def address(self, host: str, peer: str) -> str:
        """The address of `host` on its link to `peer` (what `peer` connects to)."""
        link = self.link(host, peer)
        return str(self.network.network_address + link.index * 256 + (1 if link.side(host) == "a" else 2))

    def in_host(self, host: str) -> list[str]:
        """The command prefix that runs a program on `host`."""
        return [] if host == HARNESS else ["ip", "netns", "exec", self.namespace(host)]

    def _ip(self, host: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return ip(*args, check=check) if host == HARNESS else ip("-n", self.namespace(host), *args, check=check)

    # --- building and removing ------------------------------------------------------------

    def create(self) -> None:
        for host in self.hosts:
            ip("netns", "add", self.namespace(host))
            self.created.append(host)
            self._ip(host, "link", "set", "lo", "up")
        for link in self.links:
            first, second = self.device(link, link.a), self.device(link, link.b)
            ip("link", "add", first, "type", "veth", "peer", "name", second)
            for host, device in ((link.a, first), (link.b, second)):
                if host != HARNESS:
                    ip("link", "set", device, "netns", self.namespace(host))
                self._ip(host, "addr", "add", f"{self.address(host, link.b if host == link.a else link.a)}/30",
                         "dev", device)
                self._ip(host, "link", "set", device, "up")

    def destroy(self) -> None:
        for link in self.links:  # the harness's ends (the others go with their namespaces)
            if HARNESS in (link.a, link.b):
                ip("link", "del", self.device(link, HARNESS), check=False)
        for host in self.created:
            ip("netns", "del", self.namespace(host), check=False)
        self.created.clear()

    # --- cutting ----------------------------------------------------------------------------

    def set_link(self, host: str, peer: str, up: bool) -> None:
        """Take `host`'s end of its link to `peer` down (or up again)."""
        self._ip(host, "link", "set", self.device(self.link(host, peer), host), "up" if up else "down")

    def link_is_up(self, host: str, peer: str) -> bool:
        """Both ends up: the link carries traffic."""
        shown = self._ip(host, "-o", "link", "show", self.device(self.link(host, peer), host)).stdout
        flags = shown.split("<", 1)[-1].split(">", 1)[0].split(",")
        return "UP" in flags and "LOWER_UP" in flags

    def peers(self, host: str) -> list[str]:
        return [link.b if link.a == host else link.a for link in self.links if host in (link.a, link.b)]
