"""What the command line and the dashboard show, in docker's words: ps's STATUS,
PORTS and MOUNTS columns, the stats row, the images rows, sizes, docker info's text,
and docker's formatter's quoting and ellipsis.  The engine gives numbers and records;
this is the one place they become text."""
from __future__ import annotations

import re
import unicodedata

from dunnage.core.containers import Container
from dunnage.core.images.store import Image
from dunnage.core.stats import ContainerStats
from dunnage.core.system import VERSION
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


def short_ids(text: str) -> str:
    """An engine message with its 64-hex ids cut to docker's 12."""
    return _LONG_ID.sub(lambda m: m.group(0)[:12], text)


_LONG_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


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


def human_size(n: float, digits: int = 4) -> str:
    """docker's units.HumanSize: four significant digits, decimal units (what prune and df print);
    DIGITS 3: HumanSizeWithPrecision(n, 3), as docker 20.10's history prints sizes."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    i = 0
    while n >= 1000 and i < len(units) - 1:
        n /= 1000.0
        i += 1
    return f"{n:.{digits}g}{units[i]}"


def go_quote(s: str) -> str:
    """Go's strconv.Quote: double quotes, Go's escapes; printable non-ASCII stays as it is."""
    esc = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v",
           "\\": r"\\", '"': r"\""}
    out = []
    for ch in s:
        if ch in esc:
            out.append(esc[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    return '"' + "".join(out) + '"'


def _width(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(s: str, width: int) -> str:
    """docker's formatter.Ellipsis: S cut to WIDTH display columns, the last one an ellipsis."""
    if width <= 0:
        return ""
    if width == 1:
        return s[:1]
    if sum(_width(c) for c in s) <= width:
        return s
    out, used = [], 0
    for c in s:
        if used + _width(c) > width - 1:
            break
        out.append(c)
        used += _width(c)
    return "".join(out) + "…"


def ps_mounts(mounts: list[dict], trunc: bool) -> tuple[str, str]:
    """docker ps's Mounts (volume names, else sources; 15 columns each when truncated) and
    LocalVolumes (mounts of the local volume driver)."""
    names = []
    for m in mounts:
        name = m.get("Name") or m.get("Source", "")
        names.append(ellipsis(name, 15) if trunc else name)
    return ",".join(names), str(sum(1 for m in mounts if m.get("Driver") == "local"))


def info_text(i: dict) -> str:
    """docker info's pretty form (client part, then the server's)."""
    lines = ["Client:", f" Version:    {VERSION}", " Context:    default", " Debug Mode: false", "",
             "Server:", f" Containers: {i['Containers']}", f"  Running: {i['ContainersRunning']}",
             f"  Paused: {i['ContainersPaused']}", f"  Stopped: {i['ContainersStopped']}",
             f" Images: {i['Images']}", f" Server Version: {i['ServerVersion']}",
             f" Storage Driver: {i['Driver']}"]
    lines += [f"  {k}: {v}" for k, v in i["DriverStatus"]]
    lines += [f" Logging Driver: {i['LoggingDriver']}", f" Cgroup Driver: {i['CgroupDriver']}",
              f" Cgroup Version: {i['CgroupVersion']}", " Plugins:",
              f"  Volume: {' '.join(i['Plugins']['Volume'])}", f"  Network: {' '.join(i['Plugins']['Network'])}",
              f"  Log: {' '.join(i['Plugins']['Log'])}", f" Swarm: {i['Swarm']['LocalNodeState']}",
              f" Runtimes: {' '.join(i['Runtimes'])}", f" Default Runtime: {i['DefaultRuntime']}",
              f" Init Binary: {i['InitBinary']}", " Security Options:"]
    for so in i["SecurityOptions"]:
        kv = dict(p.split("=", 1) for p in so.split(","))
        lines.append(f"  {kv.get('name', '')}")
        if "profile" in kv:
            lines.append(f"   Profile: {kv['profile']}")
    lines += [f" Kernel Version: {i['KernelVersion']}", f" Operating System: {i['OperatingSystem']}",
              f" OSType: {i['OSType']}", f" Architecture: {i['Architecture']}", f" CPUs: {i['NCPU']}",
              f" Total Memory: {bytes_binary(i['MemTotal'])}", f" Name: {i['Name']}",
              f" Docker Root Dir: {i['DockerRootDir']}", " Debug Mode: false",
              f" Experimental: {str(i['ExperimentalBuild']).lower()}",
              f" Live Restore Enabled: {str(i['LiveRestoreEnabled']).lower()}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------ reset
