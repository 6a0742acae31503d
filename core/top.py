"""docker top: a container's processes as the host's ps shows them (dockerd's Titles
and Processes; the fronts lay them out)."""
from __future__ import annotations

import re

from .cgroups import open_cgroup
from .errors import Conflict, InvalidParameter, System


def top(engine, ref: str, ps_args: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """docker top: the container's processes, as the host's ps shows them; PS_ARGS go to
    ps as dockerd passes them (aux, -o pid,comm, ...), its lines kept for the container's pids."""
    import subprocess
    c = engine.container(ref)
    if not c.running():
        raise Conflict(f"Container {c.id} is not running", 1)
    pids = open_cgroup(c.id).procs()
    if ps_args:
        return ps_top(ps_args, pids)
    if not pids:
        return ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], []
    out = subprocess.run(["ps", "-o", "user:12,pid,ppid,c,stime,tty,time,args", "-p", ",".join(map(str, pids))],
                         capture_output=True, text=True).stdout.splitlines()
    titles = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    rows = [line.split(None, 7) for line in out[1:] if line.strip()]
    return titles, rows


def ps_top(args: list[str], pids: list[int]) -> tuple[list[str], list[list[str]]]:
    """dockerd's top with ps options: ps ARGS -q PIDS (again without -q for options that
    refuse it, such as f), the lines whose PID column is one of PIDS, the overhanging
    fields of each joined into its last column."""
    import subprocess
    for k, v in re.findall(r"\s+(\S*)=\s*(PID\S*)", " " + " ".join(args)):
        if k != "pid":
            raise InvalidParameter(f'specifying "{k}={v}" is not allowed', 1)
    try:
        r = subprocess.run(["ps", *args, "-q", ",".join(map(str, pids or [0]))], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            r = subprocess.run(["ps", *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise System(f"ps: {e}", 1) from None
    if r.returncode != 0:
        raise System(f"ps: {(r.stderr.strip() or 'failed').splitlines()[0]}", 1)
    lines = r.stdout.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise System("Couldn't find PID field in ps output", 1)
    at = titles.index("PID")
    want = set(pids)
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= at:
            continue
        try:
            pid = -1 if fields[at] == "-" else int(fields[at])
        except ValueError:
            raise System(f"Unexpected pid '{fields[at]}'", 1) from None
        if pid in want:
            rows.append(fields[:len(titles) - 1] + [" ".join(fields[len(titles) - 1:])])
    return titles, rows
