"""Packet filtering and NAT for dunnage's networks, through nftables.

libnftables (the library under the ``nft`` command, talking netlink to the
kernel) is called through ctypes: no process is started.  Each dunnage root
owns one table; its rules never change after the table is made, only the
elements of its sets and maps do, so adding or removing a network or a
published port is one atomic element update:

- ``bridges``: every bridge of the root; ``same``: (bridge . bridge) pairs,
  traffic inside one network; ``internal``: bridges of --internal networks;
  ``masq``: subnets whose traffic leaving the host is masqueraded.
- ``tcp_any``/``udp_any``: host port -> container address . port, for ports
  published on every host address; ``tcp_ip``/``udp_ip`` the same keyed by
  host address . port (``-p 127.0.0.1:8080:80``).

Bridges have ``route_localnet`` (a port published on 127.0.0.1 is DNATed out
of one with its loopback source), which would also let a container reach the
host's loopback-only services by sending to 127.0.0.1 through the gateway's
MAC (CVE-2020-8558): ``localnet`` drops what comes in from a bridge for
127.0.0.0/8, before conntrack and NAT, where replies to those DNATed
connections still carry the gateway's address.

Forwarding: traffic inside one network passes; between two networks, in or out
of an internal one, and from outside into a network (unless published, or a
reply) it is dropped.  Everything else on the host is left alone (policies
stay accept).
"""
from __future__ import annotations

import ctypes
import json

from ..errors import System

NFT_CTX_OUTPUT_JSON = 1 << 4


class FirewallError(System):
    pass


RULESET = """
table ip {t} {{
  set bridges {{ type ifname; }}
  set internal {{ type ifname; }}
  set same {{ type ifname . ifname; }}
  set masq {{ type ipv4_addr; flags interval; }}
  map tcp_any {{ type inet_service : ipv4_addr . inet_service; }}
  map udp_any {{ type inet_service : ipv4_addr . inet_service; }}
  map tcp_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; }}
  map udp_ip {{ type ipv4_addr . inet_service : ipv4_addr . inet_service; }}
  chain ports {{
    meta l4proto tcp dnat ip to ip daddr . tcp dport map @tcp_ip
    meta l4proto udp dnat ip to ip daddr . udp dport map @udp_ip
    meta l4proto tcp dnat ip to tcp dport map @tcp_any
    meta l4proto udp dnat ip to udp dport map @udp_any
  }}
  chain localnet {{
    type filter hook prerouting priority raw; policy accept;
    iifname @bridges ip daddr 127.0.0.0/8 drop
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 oifname @bridges masquerade
    ip saddr @masq oifname != @bridges masquerade
    ct status dnat iifname @bridges oifname @bridges masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname . oifname @same accept
    iifname @bridges oifname @bridges drop
    iifname @internal drop
    oifname @internal drop
    iifname @bridges accept
    oifname @bridges ct state established,related accept
    oifname @bridges ct status dnat accept
    oifname @bridges drop
  }}
}}
"""

# the same for IPv6, made with the first dual-stack network: isolation, --internal,
# masquerade and published ports as in IPv4, but what goes to [::1] is left to the shim's
# relay (ports.Proxy), as docker's ip6 output rule leaves it to docker-proxy: IPv6 has no
# route_localnet, a packet from ::1 DNATed to a bridge would be dropped
RULESET6 = """
table ip6 {t} {{
  set bridges {{ type ifname; }}
  set internal {{ type ifname; }}
  set same {{ type ifname . ifname; }}
  set masq {{ type ipv6_addr; flags interval; }}
  map tcp_any {{ type inet_service : ipv6_addr . inet_service; }}
  map udp_any {{ type inet_service : ipv6_addr . inet_service; }}
  map tcp_ip {{ type ipv6_addr . inet_service : ipv6_addr . inet_service; }}
  map udp_ip {{ type ipv6_addr . inet_service : ipv6_addr . inet_service; }}
  chain ports {{
    meta l4proto tcp dnat ip6 to ip6 daddr . tcp dport map @tcp_ip
    meta l4proto udp dnat ip6 to ip6 daddr . udp dport map @udp_ip
    meta l4proto tcp dnat ip6 to tcp dport map @tcp_any
    meta l4proto udp dnat ip6 to udp dport map @udp_any
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump ports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local ip6 daddr != ::1 jump ports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip6 saddr @masq oifname != @bridges masquerade
    ct status dnat iifname @bridges oifname @bridges masquerade
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname . oifname @same accept
    iifname @bridges oifname @bridges drop
    iifname @internal drop
    oifname @internal drop
    iifname @bridges accept
    oifname @bridges ct state established,related accept
    oifname @bridges ct status dnat accept
    oifname @bridges drop
  }}
}}
"""
OUTPUT6 = "fib daddr type local ip6 daddr != ::1 jump ports"  # (an older table's rule had no ::1 test)


class _Lib:
    _lib = None

    @classmethod
    def get(cls):
        if cls._lib is None:
            try:
                lib = ctypes.CDLL("libnftables.so.1")
            except OSError:
                raise FirewallError("libnftables is not installed (Debian: libnftables1)") from None
            lib.nft_ctx_new.restype = ctypes.c_void_p
            lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
            lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
            lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
            lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
            lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
            lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
            cls._lib = lib
        return cls._lib


def nft(cmd: str, as_json: bool = False):
    """Run nft commands (one transaction); returns the output (parsed JSON with AS_JSON)."""
    lib = _Lib.get()
    ctx = lib.nft_ctx_new(0)
    try:
        lib.nft_ctx_buffer_output(ctx)
        lib.nft_ctx_buffer_error(ctx)
        if as_json:
            lib.nft_ctx_output_set_flags(ctx, NFT_CTX_OUTPUT_JSON)
        rc = lib.nft_run_cmd_from_buffer(ctx, cmd.encode())
        out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode()
        if rc != 0:
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode().strip().splitlines()
            raise FirewallError(err[0] if err else f"nft failed: {cmd.strip()}")
        return json.loads(out) if as_json and out else out
    finally:
        lib.nft_ctx_free(ctx)


class Firewall:
    """The nftables table of one dunnage root."""

    def __init__(self, table: str):
        self.table = table

    def exists(self) -> bool:
        try:
            nft(f"list table ip {self.table}")
            return True
        except FirewallError:
            return False

    def ensure(self) -> None:
        """Make the table unless it is there (callers hold the networks lock); a table
        an older dunnage made without the ``localnet`` chain gets it."""
        try:
            have = nft(f"list table ip {self.table}")
        except FirewallError:
            nft(RULESET.format(t=self.table))
            return
        if "chain localnet " not in have:
            nft(f"add chain ip {self.table} localnet {{ type filter hook prerouting priority raw; policy accept; }}\n"
                f"add rule ip {self.table} localnet iifname @bridges ip daddr 127.0.0.0/8 drop")

    def exists6(self) -> bool:
        try:
            nft(f"list table ip6 {self.table}")
            return True
        except FirewallError:
            return False

    def destroy(self) -> None:
        if self.exists():
            nft(f"delete table ip {self.table}")
        if self.exists6():
            nft(f"delete table ip6 {self.table}")

    def _elements(self, op: str, items: list[tuple[str, str]], family: str = "ip") -> None:
        if op == "add":
            nft("\n".join(f"add element {family} {self.table} {s} {{ {e} }}" for s, e in items))
            return
        for s, e in items:  # deleting what is not there fails: one at a time, misses ignored
            try:
                nft(f"delete element {family} {self.table} {s} {{ {e} }}")
            except FirewallError:
                pass

    @staticmethod
    def _network_items(bridge: str, subnet: str, internal: bool, masquerade: bool = True) -> list[tuple[str, str]]:
        items = [("bridges", f'"{bridge}"'), ("same", f'"{bridge}" . "{bridge}"')]
        if internal:
            items.append(("internal", f'"{bridge}"'))
        elif masquerade:
            items.append(("masq", subnet))
        return items

    def ensure6(self) -> bool:
        """Make the ip6 table unless it is there; True if it was made (an ip6 table of the
        first dual-stack dunnage, without the port maps, is made again: its elements then
        need adding again)."""
        try:
            have = nft(f"list table ip6 {self.table}")
        except FirewallError:
            have = None
        if have is not None and "map tcp_any " in have:
            if OUTPUT6 not in have:  # one transaction: the maps keep the ports already published
                nft(f"flush chain ip6 {self.table} output\nadd rule ip6 {self.table} output {OUTPUT6}")
            return False
        if have is not None:
            nft(f"delete table ip6 {self.table}")
        nft(RULESET6.format(t=self.table))
        return have is not None

    def add_network(self, bridge: str, subnet: str, internal: bool, subnet6: str | None = None,
                    masquerade: bool = True) -> bool:
        """True if the ip6 table was made again (ensure6).  MASQUERADE False: the subnet's
        traffic leaves the host with its own addresses (enable_ip_masquerade=false)."""
        self.ensure()
        self._elements("add", self._network_items(bridge, subnet, internal, masquerade))
        remade = False
        if subnet6:
            remade = self.ensure6()
            self._elements("add", self._network_items(bridge, subnet6, internal, masquerade), "ip6")
        return remade

    def remove_network(self, bridge: str, subnet: str, internal: bool, subnet6: str | None = None,
                       masquerade: bool = True) -> None:
        if self.exists():
            self._elements("delete", self._network_items(bridge, subnet, internal, masquerade))
        if subnet6 and self.exists6():
            self._elements("delete", self._network_items(bridge, subnet6, internal, masquerade), "ip6")

    @staticmethod
    def _port_item(proto: str, host_ip: str, host_port: int, ip: str, port: int, with_value: bool) -> tuple[str, str]:
        value = f" : {ip} . {port}" if with_value else ""
        if host_ip in ("", "0.0.0.0", "::"):
            return f"{proto}_any", f"{host_port}{value}"
        return f"{proto}_ip", f"{host_ip} . {host_port}{value}"

    def add_ports(self, mappings: list[dict]) -> None:
        """MAPPINGS: {"Proto", "HostIp", "HostPort", "IP", "Port"} each (IPv6 ones: the ip6 table's)."""
        for family, ms in self._by_family(mappings):
            if family == "ip":
                self.ensure()
            self._elements("add", [self._port_item(m["Proto"], m["HostIp"], m["HostPort"], m["IP"], m["Port"], True)
                                   for m in ms], family)

    def remove_ports(self, mappings: list[dict]) -> None:
        for family, ms in self._by_family(mappings):
            if self.exists() if family == "ip" else self.exists6():
                self._elements("delete", [self._port_item(m["Proto"], m["HostIp"], m["HostPort"], m["IP"], m["Port"],
                                                          False) for m in ms], family)

    @staticmethod
    def _by_family(mappings: list[dict]) -> list[tuple[str, list[dict]]]:
        """(those on [::1] are relayed by the shim: ports.Proxy)"""
        mappings = [m for m in mappings if m["HostIp"] != "::1"]
        four = [m for m in mappings if ":" not in m["IP"]]
        six = [m for m in mappings if ":" in m["IP"]]
        return [f for f in (("ip", four), ("ip6", six)) if f[1]]
