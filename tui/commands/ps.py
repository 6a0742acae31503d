"""Ps: the container listing."""
from __future__ import annotations

from dunnage.core import Engine
from dunnage.core.units import human_duration, since
from dunnage.tui.commands.grammar import filters_of
from dunnage.tui.commands.output import render
from dunnage.tui.rows import ellipsis, go_quote, ports_text, ps_mounts, status_text


def ps_rows(e: Engine, all_: bool, no_trunc: bool = False, filters: dict | None = None,
            last: int = -1, size: bool = False) -> list[dict]:
    """ps's rows, newest first; FILTERS docker's (--filter), LAST the newest N of all (-n);
    SIZE: with docker's Size ("RW (virtual ROOTFS)"), else N/A."""
    from dunnage.core.system import ps_command
    from dunnage.core.volumes import docker_mounts
    rows = []
    cs = sorted(e.containers(all_ or last > 0, filters), key=lambda c: c.config.get("Created", ""), reverse=True)
    for c in cs[:last] if last > 0 else cs:
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
            "RunningFor": human_duration(since(cfg["Created"])) + " ago", "Size": _size(e, c) if size else "N/A",
            "State": c.status, "Status": status_text(c),
            "_labels": cfg["Config"].get("Labels") or {},
        })
    return rows


def _size(e: Engine, c) -> str:
    """docker's ContainerContext.Size: three significant digits, the virtual size when there is one."""
    from dunnage.tui.rows import human_size
    rw, rootfs = e.container_size(c)
    return f"{human_size(rw, 3)} (virtual {human_size(rootfs, 3)})" if rootfs > 0 else human_size(rw, 3)


def cmd_ps(e: Engine, a) -> int:
    if a.latest and a.last == -1:
        a.last = 1
    size = a.size or ".Size" in (a.format or "")  # (docker's CLI asks the sizes for a format that shows them)
    rows = ps_rows(e, a.all, a.no_trunc, filters_of(a.filter), a.last, size)
    render(a.format, rows, [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"),
                            ("NAMES", "Names")] + ([("SIZE", "Size")] if a.size else []), "ID", a.quiet)
    return 0


def register(sub) -> None:
    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("-f", "--filter", action="append", default=[], metavar="KEY=VALUE",
                   help="id, name, label, status, exited, ancestor, before, since, volume, network, health, "
                        "publish, expose (a key repeated: any of them)")
    p.add_argument("-n", "--last", type=int, default=-1, help="the N last created containers (all states)")
    p.add_argument("-l", "--latest", action="store_true", help="the last created container (all states)")
    p.add_argument("--no-trunc", action="store_true", help="full IDs and commands")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("-s", "--size", action="store_true", help="the SIZE column: written (virtual: with the image)")
    p.add_argument("--format")
    p.set_defaults(fn=cmd_ps)
