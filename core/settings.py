"""A root's options, as dockerd's daemon.json: ``<root>/daemon.json``, in docker's
names and format, so a docker user's file reads here too.  dunnage has no daemon to
start with flags: `system config` changes the file (validated first, written whole or
not at all), and each command reads it when it needs an option.

Known: ``ipv6`` (the default bridge dual-stack) and ``fixed-cidr-v6`` (its IPv6
subnet; a unique local /64 of its own without one), as dockerd's --ipv6 and
--fixed-cidr-v6.  A key docker has that dunnage does not (or a typo) is refused, as
dockerd refuses to start with one: a setting silently ignored would look applied.
"""
from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Optional

from .errors import InvalidParameter
from .store import atomic_write_bytes

FILE = "daemon.json"
KEYS = ("ipv6", "fixed-cidr-v6")


def path(root: str | os.PathLike) -> Path:
    return Path(root) / FILE


def fixed_cidr_v6(value: str) -> str:
    """dockerd's check of fixed-cidr-v6: an IPv6 prefix (host bits allowed, dropped), not
    multicast, not inside the link-local fe80::/64, and, as dunnage's networks, /126 or
    larger; the network in its normal form."""
    if not isinstance(value, str) or "/" not in value:
        raise InvalidParameter(f"invalid fixed-cidr-v6: {value!r} is not an IPv6 subnet (ADDRESS/PREFIX)")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidParameter(f"invalid fixed-cidr-v6: {value!r} is not an IPv6 subnet (ADDRESS/PREFIX)") from None
    if net.version != 6 or net.network_address.ipv4_mapped is not None:
        raise InvalidParameter(f"invalid fixed-cidr-v6: '{value}' is not a valid IPv6 subnet")
    if net.is_multicast:
        raise InvalidParameter(f"invalid fixed-cidr-v6: multicast subnet '{value}' is not allowed")
    link_local = ipaddress.ip_network("fe80::/64")
    if net != link_local and net.overlaps(link_local):
        raise InvalidParameter(f"invalid fixed-cidr-v6: '{value}' clashes with the Link-Local prefix 'fe80::/64'")
    if net.prefixlen > 126:
        raise InvalidParameter(f"invalid fixed-cidr-v6: '{value}' is too small (/126 or larger)")
    return str(net)


def validate(conf, where: str = FILE) -> dict:
    """CONF (a parsed daemon.json) checked; its values in their normal form."""
    if not isinstance(conf, dict):
        raise InvalidParameter(f"{where}: a JSON object is needed")
    unknown = sorted(set(conf) - set(KEYS))
    if unknown:
        raise InvalidParameter(f"{where}: the following directives don't match any configuration option: "
                               f"{', '.join(unknown)} (dunnage knows {', '.join(KEYS)})")
    out = {}
    if "ipv6" in conf:
        if not isinstance(conf["ipv6"], bool):
            raise InvalidParameter(f"{where}: ipv6 is true or false, not {conf['ipv6']!r}")
        out["ipv6"] = conf["ipv6"]
    if conf.get("fixed-cidr-v6"):
        out["fixed-cidr-v6"] = fixed_cidr_v6(conf["fixed-cidr-v6"])
    return out


def load(root: str | os.PathLike) -> dict:
    """ROOT's options ({} without a file); InvalidParameter (one line) for a file that is
    not docker's daemon.json or holds an option dunnage does not know."""
    p = path(root)
    try:
        text = p.read_bytes()
    except FileNotFoundError:
        return {}
    import json  # (a root without options, the usual one, reads no JSON: every bridged start asks)
    try:
        conf = json.loads(text or b"{}")
    except ValueError as e:
        raise InvalidParameter(f"{p}: not JSON ({e})") from None
    return validate(conf, str(p))


def save(root: str | os.PathLike, conf: dict) -> dict:
    """Write ROOT's options (validated first: a bad one writes nothing)."""
    import json
    conf = validate(conf)
    atomic_write_bytes(path(root), (json.dumps(conf, indent=2) + "\n").encode(), mode=0o644)
    return conf


def default_bridge_ipv6(root: str | os.PathLike) -> tuple[bool, Optional[str]]:
    """(ipv6, fixed-cidr-v6) of ROOT: how its default bridge is to be."""
    conf = load(root)
    return bool(conf.get("ipv6")), conf.get("fixed-cidr-v6")
