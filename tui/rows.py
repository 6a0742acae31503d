"""What the command line and the dashboard both show, in docker's words: ps's STATUS
and PORTS columns, the stats row and the images rows.  The engine gives numbers and
records; this is the one place they become text."""
from __future__ import annotations

from dunnage.core.containers import Container
from dunnage.core.images.store import Image
from dunnage.core.stats import ContainerStats
from dunnage.core.units import bytes_binary, bytes_decimal, human_duration, since


def status_text(c: Container) -> str:
    """docker ps's STATUS column."""
    st = c.state
    if c.status == "running":
        h = (st.get("Health") or {}).get("Status")
        health = f" (health: {h})" if h == "starting" else (f" ({h})" if h else "")
        return f"Up {human_duration(since(st.get('StartedAt', '')))}{health}"
    if c.status == "paused":
        return f"Up {human_duration(since(st.get('StartedAt', '')))} (Paused)"
    if c.status == "restarting":
        return f"Restarting ({int(st.get('ExitCode') or 0)}) {human_duration(since(st.get('FinishedAt', '')))} ago"
    if c.status == "exited":
        return f"Exited ({int(st.get('ExitCode') or 0)}) {human_duration(since(st.get('FinishedAt', '')))} ago"
    return "Created"


def stats_row(s: ContainerStats) -> dict:
    """docker stats' fields (as its --format names them) of one container's figures."""
    short = s.id[:12]
    return {
        "BlockIO": f"{bytes_decimal(s.io_read)} / {bytes_decimal(s.io_write)}",
        "CPUPerc": f"{s.cpu_percent:.2f}%",
        "Container": short,
        "ID": short,
        "MemPerc": f"{s.mem_percent:.2f}%",
        "MemUsage": f"{bytes_binary(s.mem_usage)} / {bytes_binary(s.mem_limit)}",
        "Name": s.name,
        "NetIO": f"{bytes_decimal(s.net_rx)} / {bytes_decimal(s.net_tx)}",
        "NetPackets": f"{s.net_rx_packets} / {s.net_tx_packets}",
        "PIDs": str(s.pids),
    }


def ports_text(ports: dict) -> str:
    """docker ps's PORTS: 0.0.0.0:8080->80/tcp, 443/tcp."""
    out = []
    for k, binds in sorted(ports.items(), key=lambda kv: int(kv[0].split("/")[0])):
        if not binds:
            out.append(k)
        for b in binds or []:
            out.append(f"{b['HostIp']}:{b['HostPort']}->{k}")
    return ", ".join(out)


def image_rows(images: list[Image]) -> list[dict]:
    """docker images' rows, one per tag (<none>:<none> for an image without one)."""
    rows = []
    for img in images:
        tags = img.tags or ["<none>:<none>"]
        for t in tags:
            repo, _, tag = t.rpartition(":")
            digest = next((d.split("@", 1)[1] for d in img.digests or [] if d.split("@", 1)[0] == repo), "<none>")
            rows.append({
                "Containers": "N/A", "CreatedAt": img.created, "CreatedSince": human_duration(since(img.created)) + " ago",
                "Digest": digest, "ID": img.short_id, "Repository": repo, "SharedSize": "N/A",
                "Size": bytes_decimal(img.size), "Tag": tag, "UniqueSize": "N/A", "VirtualSize": bytes_decimal(img.size),
            })
    return rows
