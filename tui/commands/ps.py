"""Ps: the container listing."""
from __future__ import annotations

from dunnage.core import Engine
from dunnage.core.units import human_duration, since
from dunnage.tui.commands.output import render
from dunnage.tui.rows import ellipsis, go_quote, ports_text, ps_mounts, status_text


def ps_rows(e: Engine, all_: bool, no_trunc: bool = False) -> list[dict]:
    from dunnage.core.system import ps_command
    from dunnage.core.volumes import docker_mounts
    rows = []
    for c in e.containers(all_):
        cfg = c.config
        cmd = ps_command(cfg["Argv"])
        mounts, local_volumes = ps_mounts(docker_mounts(cfg["HostConfig"].get("Mounts") or []), not no_trunc)
        rows.append({
            "Command": go_quote(cmd if no_trunc else ellipsis(cmd, 20)),
            "CreatedAt": cfg["Created"], "ID": c.id if no_trunc else c.short_id, "Image": cfg["ImageName"],
            "Labels": ",".join(f"{k}={v}" for k, v in (cfg["Config"].get("Labels") or {}).items()),
            "LocalVolumes": local_volumes, "Mounts": mounts, "Names": c.name,
            "Networks": ",".join(cfg.get("NetworkConfigs") or {}) or cfg["HostConfig"].get("NetworkMode", ""),
            "Ports": ports_text(e.published_ports(c)),
            "RunningFor": human_duration(since(cfg["Created"])) + " ago", "Size": "N/A",
            "State": c.status, "Status": status_text(c),
            "_labels": cfg["Config"].get("Labels") or {},
        })
    return rows


def cmd_ps(e: Engine, a) -> int:
    rows = ps_rows(e, a.all, a.no_trunc)
    render(a.format, rows, [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"),
                            ("NAMES", "Names")], "ID", a.quiet)
    return 0


def register(sub) -> None:
    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-trunc", action="store_true", help="full IDs and commands")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format")
    p.set_defaults(fn=cmd_ps)
