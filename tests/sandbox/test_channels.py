"""No channel from a function to the host or a neighbour (DESIGN §8): IPv6, IPv4 between
sandboxes, and the kernel keyring across tenants that reuse a uid. Root only.

No packet leaves the machine: every address tried is one of this host's or a sandbox's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute

from fcd.config import Config
from fcd.instances.instance import Instance, Isolation
from fcd.isolation import sandbox
from tests.sandbox.conftest import Starter, invoke

pytestmark = pytest.mark.root

PROBE = {
    "index.py": """
        import ctypes, json, os, socket, threading

        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        ADD_KEY, KEYCTL = 248, 250  # x86_64
        KEYCTL_SEARCH, KEYCTL_READ = 10, 11
        RINGS = {"@s": -3, "@u": -4}

        def connect(host, port):
            try:
                info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
                with socket.socket(info[0], socket.SOCK_STREAM) as s:
                    s.settimeout(1)
                    s.connect(info[4])
                return "connected"
            except OSError as e:
                return type(e).__name__

        def listen():
            ports = []
            for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
                s = socket.socket(family, socket.SOCK_STREAM)
                if family == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((address, 0))
                s.listen()
                threading.Thread(target=lambda s=s: [s.accept() for _ in iter(int, 1)],
                                 daemon=True).start()
                ports.append(s.getsockname()[1])
            return ports

        def add_key(name, ring):
            serial = libc.syscall(ADD_KEY, b"user", name.encode(), b"hunter2", 7, RINGS[ring])
            return serial if serial >= 0 else -ctypes.get_errno()

        def read_key(name, ring):
            serial = libc.syscall(KEYCTL, KEYCTL_SEARCH, RINGS[ring], b"user", name.encode(), 0)
            if serial < 0:
                return -ctypes.get_errno()
            buf = ctypes.create_string_buffer(64)
            size = libc.syscall(KEYCTL, KEYCTL_READ, serial, buf, 64)
            return buf.raw[:size].decode() if size >= 0 else -ctypes.get_errno()

        def proc_keys():
            try:
                return open("/proc/keys").read()
            except OSError as e:
                return type(e).__name__

        def handler(event, context):
            args = json.loads(event)
            what = args["what"]
            if what == "connect":
                return json.dumps(connect(args["host"], args["port"]))
            if what == "listen":
                return json.dumps(listen())
            if what == "inet6":
                return json.dumps(open("/proc/net/if_inet6").read().split("\\n"))
            if what == "gateway":
                route = [l.split() for l in open("/proc/net/route").read().splitlines()[1:]]
                gw = [r[2] for r in route if r[1] == "00000000"][0]
                return json.dumps(socket.inet_ntoa(int(gw, 16).to_bytes(4, "little")))
            if what == "add_keys":
                return json.dumps({ring: add_key(args["name"], ring) for ring in RINGS})
            if what == "read_keys":
                return json.dumps({name + ring: read_key(name, ring)
                                   for name in args["names"] for ring in RINGS}
                                  | {"/proc/keys": proc_keys()})
            return "?"
    """
}


async def probe(instance: Instance, **args: object) -> Any:
    result = await invoke(instance, json.dumps(args).encode(), limit=30)
    assert result.error_type is None, result.body
    return json.loads(result.body)


@contextlib.contextmanager
def host_listeners() -> Iterator[int]:
    """A TCP port listening on every host address: 0.0.0.0 and [::] (IPv6 only)."""
    with socket.socket() as v4, socket.socket(socket.AF_INET6) as v6:
        v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        v6.bind(("::", 0))
        port = v6.getsockname()[1]
        v4.bind(("0.0.0.0", port))
        for s in (v4, v6):
            s.listen()
        yield port


def host_inet6_lines() -> list[list[str]]:
    """The host's /proc/net/if_inet6, split: address, index, prefix, scope, flags, name."""
    return [line.split() for line in Path("/proc/net/if_inet6").read_text().splitlines()]


def host_ipv6_addresses() -> list[tuple[str, str]]:
    """Every IPv6 address of the host with the interface it is on."""
    found = []
    for hex_address, *_, ifname in host_inet6_lines():
        packed = bytes.fromhex(hex_address)
        found.append((socket.inet_ntop(socket.AF_INET6, packed), ifname))
    return found


def eui64_link_local(mac: str) -> str:
    """The link-local address the kernel gives an interface with ``mac`` (addr_gen_mode 0)."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    groups = [f"{eui[i] << 8 | eui[i + 1]:x}" for i in range(0, 8, 2)]
    return "fe80::" + ":".join(groups)


def host_end_of(gateway: str) -> tuple[str, str]:
    """The host's veth end that holds ``gateway``: its name and its MAC (call in a thread:
    pyroute2 refuses to run inside an event loop)."""
    with IPRoute() as ipr:
        index = ipr.get_addr(family=socket.AF_INET, address=gateway)[0]["index"]
        link = ipr.get_links(index)[0]
        return link.get_attr("IFLA_IFNAME"), link.get_attr("IFLA_ADDRESS")


IFA_F_TENTATIVE = 0x40


def inet6_flags(lines: list[list[str]], ifname: str) -> list[int]:
    """The flags of each IPv6 address on ``ifname`` from /proc/net/if_inet6's lines."""
    return [int(fields[4], 16) for fields in lines if fields[-1] == ifname]


async def ipv6_settled(instance: Instance, host_end: str) -> None:
    """Wait until both ends of the pair either have no IPv6 address or have finished duplicate
    address detection (a tentative address cannot be used yet, which would hide the hole)."""
    async with asyncio.timeout(15):
        while True:
            host = host_inet6_lines()
            inside = [line.split() for line in await probe(instance, what="inet6") if line]
            flags = inet6_flags(host, host_end) + inet6_flags(inside, "eth0")
            if not any(f & IFA_F_TENTATIVE for f in flags):
                return
            await asyncio.sleep(0.1)


async def test_ipv6_reaches_neither_the_host_nor_its_veth_end(sandboxed: Starter) -> None:
    """Connections from a sandbox with internet access to a host service on [::] fail at every
    IPv6 address of the host and at the link-local address of the host's end of its pair."""
    with host_listeners() as port:
        instance = await sandboxed(PROBE, internet_access=True)
        gateway = await probe(instance, what="gateway")
        host_end, mac = await asyncio.to_thread(host_end_of, gateway)
        await ipv6_settled(instance, host_end)
        targets = {"::1", eui64_link_local(mac) + "%eth0"}
        for address, ifname in host_ipv6_addresses():
            targets.add(address + "%eth0" if address.startswith("fe80") else address)
            if ifname == host_end:
                targets.add(address + "%eth0")
        for target in sorted(targets):
            result = await probe(instance, what="connect", host=target, port=port)
            assert result != "connected", target
        # IPv4 still holds: the gateway is the host
        assert await probe(instance, what="connect", host=gateway, port=port) != "connected"
    # the pair carries no IPv6 at either end; the sandbox keeps ::1 on its own loopback
    lines = [line.split() for line in await probe(instance, what="inet6") if line]
    assert {line[-1] for line in lines} <= {"lo"}
    assert not any(ifname == host_end for _, ifname in host_ipv6_addresses())


async def test_neighbours_are_unreachable_over_ipv4_and_ipv6(sandboxed: Starter) -> None:
    server = await sandboxed(PROBE, internet_access=True)
    client = await sandboxed(PROBE, internet_access=True)
    port4, port6 = await probe(server, what="listen")
    addresses = [line.split() for line in await probe(server, what="inet6") if line]
    gateway = await probe(server, what="gateway")
    server_ip = gateway[: gateway.rindex(".") + 1] + str(int(gateway.rsplit(".", 1)[1]) + 1)
    # the server's own view: its listener answers on its own address
    assert await probe(server, what="connect", host=server_ip, port=port4) == "connected"
    assert await probe(client, what="connect", host=server_ip, port=port4) != "connected"
    _, server_mac = await asyncio.to_thread(
        host_end_of, gateway
    )  # the sandbox end's MAC is not visible here: try both
    for fields in addresses:
        address = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[0]))
        if fields[-1] != "lo":
            target = address + "%eth0" if address.startswith("fe80") else address
            assert await probe(client, what="connect", host=target, port=port6) != "connected"
    target = eui64_link_local(server_mac) + "%eth0"
    assert await probe(client, what="connect", host=target, port=port6) != "connected"


libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL, KEYCTL_JOIN_SESSION_KEYRING = 248, 250, 1


async def test_a_reused_uid_does_not_inherit_keys(sandboxed: Starter) -> None:
    """Function A stores secrets in its user and session keyrings and is deleted; function B,
    given the same uid, finds none of them, nor one the host holds in its session keyring."""
    # A session keyring of this test process's own (so nothing shared is touched), holding a
    # host secret the sandboxes, forked from a zygote this process starts, would inherit.
    assert libc.syscall(KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, None) > 0
    host_key = libc.syscall(ADD_KEY, b"user", b"fcd-host-secret", b"hunter2", 7, -3)
    assert host_key > 0
    first = await sandboxed(PROBE)
    stored = await probe(first, what="add_keys", name="fcd-tenant-secret")
    # how: the keyring syscalls are refused to every sandbox (a seccomp filter)
    assert stored == {"@s": -errno.EPERM, "@u": -errno.EPERM}
    uid = first.sandbox.uid
    assert uid is not None
    await first.stop()
    # Force the reuse: put the freed uid first in the pool's free list.
    free = sandboxed.isolation._free_uids
    free.remove(uid)
    free.insert(0, uid)
    second = await sandboxed(PROBE)
    assert second.sandbox.uid == uid
    found = await probe(second, what="read_keys", names=["fcd-tenant-secret", "fcd-host-secret"])
    assert "hunter2" not in json.dumps(found), found


async def test_isolation_refuses_to_start_without_libseccomp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fcd.isolation.sandbox.ctypes.util.find_library", lambda name: None)
    with pytest.raises(sandbox.IsolationUnavailable, match="libseccomp"):
        Isolation.from_config(Config(isolation="namespaces"), tmp_path)
