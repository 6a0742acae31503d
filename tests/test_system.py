"""system df/prune/info/reset, prunes that count what they free, and the small truths of
issue 15 (commit --pause=false, network disconnect -f, top with ps options, ps's COMMAND,
Mounts and LocalVolumes, logs -t to the nanosecond). Real containers through the real
command line; sizes checked against the du command."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import cli, wait_for
from peers import cgroup_roots

from dunnage.core.images.demo import DEMO_IMAGE, busybox_rootfs_tar
from dunnage.tui.rows import human_size

pytestmark = pytest.mark.timeout(180)


def ok(root, *args, input=None) -> str:
    p = cli(root, *args, input=input)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def du(*paths) -> int:
    """What the du command counts (bytes on disk, one file system, hard links once)."""
    paths = [str(p) for p in paths]
    if not paths:
        return 0
    out = subprocess.run(["du", "-scx", "-B1", *paths], capture_output=True, text=True, timeout=60, check=True).stdout
    return int(out.splitlines()[-1].split()[0])


def size_of(text: str) -> float:
    """A size docker printed (4.211MB, 45.06kB, 0B) back in bytes."""
    m = re.fullmatch(r"([\d.]+)(B|kB|MB|GB|TB)", text)
    assert m, text
    return float(m.group(1)) * {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[m.group(2)]


def close(printed: str, actual: int, slack: int = 0) -> bool:
    """PRINTED (four significant digits) says ACTUAL bytes, give or take SLACK."""
    return abs(size_of(printed) - actual) <= actual * 0.0006 + slack + 1


def reclaimed(out: str) -> str:
    return re.search(r"^Total reclaimed space: (\S+)$", out, re.M).group(1)


def store_du(root: Path) -> int:
    return du(root)


@pytest.fixture
def root(fresh_root):
    ok(fresh_root, "import", "-", DEMO_IMAGE, input=busybox_rootfs_tar())
    return fresh_root


# ------------------------------------------------------------------ df
def test_df_counts_and_sizes_are_what_is_on_disk(root):
    ok(root, "run", "--network", "none", "--name", "writer", DEMO_IMAGE, "sh", "-c",
       "dd if=/dev/zero of=/big bs=1M count=3 2>/dev/null")
    ok(root, "volume", "create", "used")
    ok(root, "volume", "create", "idle")
    ok(root, "run", "--network", "none", "--name", "filler", "-v", "used:/u", "-v", "idle:/i", DEMO_IMAGE, "sh",
       "-c", "dd if=/dev/zero of=/u/x bs=1M count=2 2>/dev/null; dd if=/dev/zero of=/i/x bs=1M count=1 2>/dev/null")
    ok(root, "rm", "filler")
    ok(root, "create", "--network", "none", "--name", "holder", "-v", "used:/u", DEMO_IMAGE, "true")
    rows = {r["Type"]: r for r in map(json.loads, ok(root, "system", "df", "--format", "json").splitlines())}
    assert list(rows) == ["Images", "Containers", "Local Volumes", "Build Cache"]
    img, ctr, vol = rows["Images"], rows["Containers"], rows["Local Volumes"]
    assert (img["TotalCount"], img["Active"]) == ("1", "1")
    assert close(img["Size"], du(*(root / "layers").iterdir(), *(root / "blobs" / "sha256").iterdir()))
    assert img["Reclaimable"] == "0B (0%)"
    assert (ctr["TotalCount"], ctr["Active"]) == ("2", "0")
    assert close(ctr["Size"], du(*(root / "containers").iterdir()), 8192)  # a run dir or two
    assert ctr["Reclaimable"].endswith("(100%)")
    assert (vol["TotalCount"], vol["Active"]) == ("2", "1")
    assert close(vol["Size"], du(root / "volumes" / "used", root / "volumes" / "idle"))
    idle = du(root / "volumes" / "idle")
    m = re.fullmatch(r"(\S+) \((\d+)%\)", vol["Reclaimable"])
    assert close(m.group(1), idle) and int(m.group(2)) == idle * 100 // int(size_of(vol["Size"]))
    assert rows["Build Cache"] == {"Type": "Build Cache", "TotalCount": "0", "Active": "0", "Size": "0B",
                                   "Reclaimable": "0B"}
    verbose = ok(root, "system", "df", "-v")
    for title in ("Images space usage:", "Containers space usage:", "Local Volumes space usage:",
                  "Build cache usage: 0B"):
        assert title in verbose
    assert "\"sh -c 'dd if=/dev/z…\"" in verbose
    line = next(x for x in verbose.splitlines() if x.startswith("idle "))
    assert line.split()[1:] == ["0", human_size(idle)]


# ------------------------------------------------------------------ prune
def test_prunes_report_the_bytes_the_store_loses(root):
    ok(root, "run", "--network", "none", DEMO_IMAGE, "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=3 2>/dev/null")
    ok(root, "run", "--network", "none", "--name", "anon", "-v", "/data", DEMO_IMAGE, "sh", "-c",
       "dd if=/dev/zero of=/data/x bs=1M count=2 2>/dev/null")
    ok(root, "rm", "anon")  # without -v: its anonymous volume stays for prune
    ok(root, "import", "-", "drop/me", input=busybox_rootfs_tar() + b"\0" * 1024)  # a second image of its own

    def step(*args):
        before = store_du(root)
        out = ok(root, *args)
        return out, before - store_du(root)

    out, lost = step("container", "prune", "-f")
    assert out.startswith("Deleted Containers:\n") and "\n\nTotal reclaimed space: " in out
    assert lost > 3 << 20 and close(reclaimed(out), lost, 16384)
    out, _ = step("container", "prune", "-f")
    assert out == "Total reclaimed space: 0B\n"
    out, lost = step("volume", "prune", "-f")
    assert out.startswith("Deleted Volumes:\n") and lost > 2 << 20 and close(reclaimed(out), lost, 16384)
    ok(root, "run", "--network", "none", DEMO_IMAGE, "sh", "-c", "dd if=/dev/zero of=/big bs=1M count=1 2>/dev/null")
    # asked first; no is no
    p = cli(root, "system", "prune", "-a", input=b"n\n")
    assert p.returncode == 0 and b"Are you sure you want to continue? [y/N]" in p.stdout
    assert b"Total reclaimed space" not in p.stdout and len(ok(root, "ps", "-aq").split()) == 1
    out, lost = step("system", "prune", "-a", "-f")
    assert "Deleted Containers:\n" in out and "Deleted Images:\n" in out and "untagged: drop/me:latest\n" in out
    assert lost > 5 << 20 and close(reclaimed(out), lost, 16384)
    assert ok(root, "images", "-q") == "" and ok(root, "ps", "-aq") == ""


# ------------------------------------------------------------------ info
def test_info_says_what_this_host_and_root_are(root):
    ok(root, "run", "-d", "--network", "none", "--name", "up", DEMO_IMAGE, "sleep", "300")
    ok(root, "create", "--network", "none", DEMO_IMAGE, "true")
    i = json.loads(ok(root, "info", "--format", "json"))
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    assert i["CgroupVersion"] == ("2" if v2 else "1") and i["CgroupDriver"] == "cgroupfs"
    assert i["KernelVersion"] == os.uname().release and i["Architecture"] == os.uname().machine
    assert (i["Containers"], i["ContainersRunning"], i["ContainersPaused"], i["ContainersStopped"]) == (2, 1, 0, 1)
    assert i["Images"] == 1 and i["DockerRootDir"] == str(root) and i["NCPU"] == len(os.sched_getaffinity(0))
    assert ok(root, "system", "info", "-f", "{{.CgroupDriver}} {{.ContainersRunning}}").strip() == "cgroupfs 1"
    text = ok(root, "system", "info")
    assert f" Cgroup Version: {'2' if v2 else '1'}\n" in text and f" Kernel Version: {os.uname().release}\n" in text
    assert " Containers: 2\n  Running: 1\n  Paused: 0\n  Stopped: 1\n Images: 1\n" in text


# ------------------------------------------------------------------ reset
def _tables() -> set[str]:
    from dunnage.core.net.firewall import nft
    return {line.split()[-1] for line in nft("list tables").splitlines() if line.strip()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reset_leaves_no_table_bridge_cgroup_mount_or_file(root):
    from dunnage.core.net.config import Networks
    from dunnage.core.store import Store
    nets = Networks(Store(str(root)))
    ok(root, "network", "create", "resetnet")
    a = ok(root, "run", "-d", "--name", "onnet", "--network", "resetnet", "-p", f"127.0.0.1:{_free_port()}:80",
           DEMO_IMAGE, "sleep", "300").strip()
    b = ok(root, "run", "-d", "--name", "onbridge", "-v", "keep:/k", DEMO_IMAGE, "sleep", "300").strip()
    bridges = {r["Bridge"] for r in nets.list()}
    assert nets.table in _tables() and bridges <= set(os.listdir("/sys/class/net")) and len(bridges) == 2
    groups = [os.path.join(r, "dunnage", cid) for r in cgroup_roots() for cid in (a, b)]
    assert any(os.path.isdir(g) for g in groups)
    p = cli(root, "system", "reset", input=b"\n")  # asked first: no answer is no
    assert p.returncode == 0 and b"[y/N]" in p.stdout and len(ok(root, "ps", "-q").split()) == 2
    assert ok(root, "system", "reset", "-f") == ""
    assert nets.table not in _tables()
    assert not bridges & set(os.listdir("/sys/class/net"))
    assert not [n for n in os.listdir("/sys/class/net") if n.startswith((f"dv{a[:10]}", f"dv{b[:10]}"))]
    assert not [g for g in groups if os.path.exists(g)]
    with open("/proc/self/mountinfo") as f:
        assert not [ln for ln in f if f" {root}/" in ln or f" {root} " in ln]
    assert not root.exists() or not any(root.iterdir())

    # records lost before the reset (the directory deleted by hand): the table and the
    # default bridge are found by the root's name all the same
    ok(root, "import", "-", DEMO_IMAGE, input=busybox_rootfs_tar())
    ok(root, "run", "--rm", DEMO_IMAGE, "true")
    assert nets.table in _tables() and nets.default_bridge in os.listdir("/sys/class/net")
    subprocess.run(["rm", "-rf", str(root / "networks")], check=True, timeout=30)
    assert ok(root, "system", "reset", "--force") == ""
    assert nets.table not in _tables() and nets.default_bridge not in os.listdir("/sys/class/net")


# ------------------------------------------------------------------ issue 15's small truths
def test_commit_pause_false_leaves_the_container_running(run_cli, engine, session_root, image):
    from dunnage.core import events
    c = engine.run(image, ["sh", "-c", "echo x > /f; sleep 300"], detach=True, network="none")
    wait_for(lambda: b"sleep 300" in run_cli("top", c.id).stdout)
    _, start = events.read(engine.store)

    def freezes() -> list[str]:
        recs, _ = events.read(engine.store, start)
        return [r["Action"] for r in recs if r["id"] == c.id and r["Action"] in ("pause", "unpause")]
    r = run_cli("commit", "--pause=false", c.id, "sys/nopause:1")
    assert r.returncode == 0, r.stderr
    assert freezes() == [] and engine.container(c.id).status == "running"
    assert run_cli("commit", c.id, "sys/paused:1").returncode == 0
    assert freezes() == ["pause", "unpause"]  # the default pauses, as docker's
    for ref in ("sys/nopause:1", "sys/paused:1"):
        engine.remove_image(ref)


def test_network_disconnect_force(run_cli, engine, session_root, image):
    from dunnage.core.net.config import Networks
    assert run_cli("network", "create", "sys-gone").returncode == 0
    assert run_cli("network", "create", "sys-here").returncode == 0
    c = engine.create(image, ["true"], network="sys-gone", name="sys-orphan")
    try:
        Networks(engine.store).remove("sys-gone")  # lost behind dunnage's back (no endpoint: it is stopped)
        r = run_cli("network", "disconnect", "sys-gone", "sys-orphan")
        assert r.returncode == 1 and b"network sys-gone not found" in r.stderr
        r = run_cli("network", "disconnect", "-f", "sys-gone", "sys-orphan")
        assert r.returncode == 0, r.stderr
        assert "sys-gone" not in engine.container(c.id).config.get("NetworkConfigs", {})
        r = run_cli("network", "disconnect", "-f", "sys-here", "sys-no-such-container")
        assert r.returncode == 1 and r.stderr.decode().strip().endswith("endpoint sys-no-such-container not found")
        r = run_cli("network", "disconnect", "sys-here", "sys-no-such-container")
        assert r.returncode == 1 and b"No such container: sys-no-such-container" in r.stderr
    finally:
        engine.remove(c.id, force=True)
        engine.network_remove("sys-here")


def test_top_passes_ps_options(run_cli, engine, image):
    c = engine.run(image, ["sh", "-c", "sleep 300 & sleep 301"], detach=True, network="none")
    wait_for(lambda: b"sleep 301" in run_cli("top", c.id).stdout)
    pids = {int(line.split()[1]) for line in run_cli("top", c.id).stdout.decode().splitlines()[1:]}
    comms = sorted(open(f"/proc/{p}/comm").read().strip() for p in pids)
    assert len(pids) >= 2 and "sleep" in comms
    for args, head in ((["aux"], ["USER", "PID", "%CPU", "%MEM"]), (["-o", "pid,user,comm"], ["PID", "USER", "COMMAND"]),
                       (["auxf"], ["USER", "PID"])):  # f refuses -q: ps again without it, lines filtered here
        r = run_cli("top", c.id, *args)
        assert r.returncode == 0, r.stderr
        lines = r.stdout.decode().splitlines()
        assert lines[0].split()[:len(head)] == head
        at = lines[0].split().index("PID")
        assert {int(line.split()[at]) for line in lines[1:]} == pids
    r = run_cli("top", c.id, "-o", "pid,comm")
    assert sorted(line.split()[1] for line in r.stdout.decode().splitlines()[1:]) == comms
    r = run_cli("top", c.id, "-o", "comm")
    assert r.returncode == 1 and b"Couldn't find PID field in ps output" in r.stderr


def test_ps_command_quoting_mounts_and_local_volumes(run_cli, engine, image, tmp_path):
    bind = tmp_path / "hostdir-with-a-long-name"
    r = run_cli("create", "--network", "none", "-v", "sys-named:/n", "-v", f"{bind}:/b", "-v", "/anon", image,
                "sh", "-c", 'echo "daemon off;" x')
    assert r.returncode == 0, r.stderr
    cid = r.stdout.decode().strip()
    try:
        fmt = "{{.ID}}|{{.Command}}|{{.Mounts}}|{{.LocalVolumes}}"
        row = next(x for x in run_cli("ps", "-a", "--format", fmt).stdout.decode().splitlines() if x.startswith(cid[:12]))
        _, command, mounts, local = row.split("|")
        assert command == '"sh -c \'echo \\"daemon…"'
        names = mounts.split(",")
        assert names[0] == "sys-named" and names[1] == str(bind)[:14] + "…" and len(names[2]) == 15
        assert local == "2"
        row = next(x for x in run_cli("ps", "-a", "--no-trunc", "--format", fmt).stdout.decode().splitlines()
                   if x.startswith(cid))
        assert row.split("|")[1] == '"sh -c \'echo \\"daemon off;\\" x\'"'
        assert row.split("|")[2].split(",")[:2] == ["sys-named", str(bind)]
        table = run_cli("ps", "-a").stdout.decode()
        assert '"sh -c \'echo \\"daemon…"' in table
    finally:
        engine.remove(cid, force=True, volumes=True)
        engine.volume_remove("sys-named")


def test_logs_timestamps_are_to_the_nanosecond(run_cli, engine, image):
    import datetime as dt
    c = engine.run(image, ["sh", "-c", "echo one; echo two"], detach=True, network="none")
    engine.wait(c.id, 30)
    lines = run_cli("logs", "-t", c.id).stdout.decode().splitlines()
    times = [t for t, _, _ in engine.logs(c.id)]
    assert len(lines) == 2 and [x.split(" ", 1)[1] for x in lines] == ["one", "two"]
    for line in lines:  # each line has the time of the record it starts in, to the nanosecond
        stamp = line.split(" ", 1)[0]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z", stamp), stamp
        secs = dt.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
        assert int(secs) * 10**9 + int(stamp[20:29]) in times
