"""Outbound network for sandboxes with internetAccess: a veth pair each, NAT on the host.

Every sandbox has its own network namespace with loopback up (made with the sandbox). One with
internet access also gets a veth pair: ``fcd<n>`` on the host with ``10.200.x.1/30`` and
``eth0`` in the sandbox with ``10.200.x.2/30`` (configured from inside, see
``sandbox/init.py``), default route via the host end. The host masquerades ``10.200.0.0/16``
and, in the same nftables table, drops what sandboxes send to the host itself or to each
other: outbound only. Neither end has IPv6 (the rules are IPv4's; see ``_no_ipv6``). The pair
disappears with the sandbox's namespace, so nothing needs removing.

All of it is netlink through pyroute2 (no ``iptables``/``nft`` binary is needed).
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import ipaddress
import logging
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.nftables.expressions import ipv4addr, masq, verdict
from pyroute2.nftables.main import NFTables

log = logging.getLogger(__name__)

NETWORK = ipaddress.ip_network("10.200.0.0/16")
TABLE = "fcd"
FORWARDING = Path("/proc/sys/net/ipv4/ip_forward")
IPV6_CONF = Path("/proc/sys/net/ipv6/conf")
NF_DROP, NF_ACCEPT = 0, 1
NFPROTO_IPV4 = 2
LOCK = Path("/run/fcd-uplink.lock") if Path("/run").is_dir() else Path("/tmp/fcd-uplink.lock")


@dataclass(frozen=True)
class Link:
    """One sandbox's addresses: what its ``eth0`` is given from inside."""

    index: int
    host_ifname: str
    host_ip: str
    sandbox_ip: str
    prefix: int = 30


def link_for(index: int) -> Link:
    """The /30 of slot ``index`` (16384 slots in 10.200.0.0/16). Pure."""
    base = int(NETWORK.network_address) + 4 * index
    return Link(
        index,
        f"fcd{index}",
        str(ipaddress.ip_address(base + 1)),
        str(ipaddress.ip_address(base + 2)),
    )


class Uplink:
    """The host side: NAT table, forwarding, one veth pair per internet-enabled sandbox."""

    def __init__(self) -> None:
        self._free = list(range(NETWORK.num_addresses // 4))
        self._ready = False
        self._lock = asyncio.Lock()

    async def attach(self, pid: int) -> Link:
        """Give the network namespace of ``pid`` a veth pair; the sandbox configures its end.

        Raises:
            OSError: netlink refused (no veth or nf_tables support, not root).
        """
        async with self._lock:
            if not self._ready:
                try:
                    await asyncio.to_thread(_set_up_host)
                except NetlinkError as e:
                    raise OSError(e.code, f"cannot set up NAT with nf_tables: {e}") from e
                self._ready = True
        taken: list[int] = []
        try:
            while True:
                link = link_for(self._free.pop(0))
                taken.append(link.index)
                if await asyncio.to_thread(_add_pair, link, pid):
                    taken.pop()
                    return link
                # The name (and so the /30) is in use by another daemon: the kernel arbitrates.
        finally:
            self._free.extend(taken)

    async def detach(self, link: Link) -> None:
        """Delete a pair the sandbox will not use (its ``eth0`` was left down, unaddressed)."""
        try:
            await asyncio.to_thread(_delete_pair, link)
        except (OSError, NetlinkError) as e:
            log.warning("cannot delete veth %s: %s", link.host_ifname, e)

    def release(self, link: Link) -> None:
        """The sandbox is gone (its namespace took the pair along): reuse the slot."""
        self._free.append(link.index)


def _set_up_host() -> None:
    """Forwarding on, and table ``fcd``: masquerade out, drop to the host and between sandboxes.

    The table is shared by every fcd on the host (tests run several) and left in place when a
    daemon stops: its rules only match 10.200.0.0/16. A lock file serialises creating it.
    """
    FORWARDING.write_text("1\n")
    sandboxes = str(NETWORK)
    with open(LOCK, "w") as lock, NFTables(nfgen_family=NFPROTO_IPV4) as nft:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if any(t.get_attr("NFTA_TABLE_NAME") == TABLE for t in nft.get_tables()):
            return
        nft.table("add", name=TABLE)
        nft.chain("add", table=TABLE, name="post", hook="postrouting", type="nat", priority=100)
        nft.rule("add", table=TABLE, chain="post", expressions=(ipv4addr(src=sandboxes), masq()))
        nft.chain("add", table=TABLE, name="input", hook="input", type="filter", priority=0)
        drop_to_host = (ipv4addr(src=sandboxes), verdict(code=NF_DROP))
        nft.rule("add", table=TABLE, chain="input", expressions=drop_to_host)
        nft.chain("add", table=TABLE, name="forward", hook="forward", type="filter", priority=0)
        drop_between = (ipv4addr(src=sandboxes, dst=sandboxes), verdict(code=NF_DROP))
        nft.rule("add", table=TABLE, chain="forward", expressions=drop_between)


def _add_pair(link: Link, pid: int) -> bool:
    """Create the pair; False when ``fcd<n>`` exists (another daemon's, or one going away)."""
    with IPRoute() as ipr:
        try:
            ipr.link(
                "add",
                ifname=link.host_ifname,
                kind="veth",
                peer={"ifname": "eth0", "net_ns_pid": pid},
            )
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise OSError(e.code, f"cannot create veth {link.host_ifname}: {e}") from e
        index = ipr.link_lookup(ifname=link.host_ifname)[0]
        _no_ipv6(link.host_ifname)
        ipr.addr("add", index=index, address=link.host_ip, prefixlen=link.prefix)
        ipr.link("set", index=index, state="up")
    return True


def _no_ipv6(ifname: str) -> None:
    """No IPv6 on the host's end, set before it is up so it never gets a link-local address:
    the sandbox's end has none either (``sandbox/init.py``), and the nftables rules above are
    IPv4's. Nothing to do on a host without IPv6."""
    setting = IPV6_CONF / ifname / "disable_ipv6"
    if IPV6_CONF.is_dir():
        setting.write_text("1\n")


def _delete_pair(link: Link) -> None:
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=link.host_ifname)
        if found:
            ipr.link("del", index=found[0])
