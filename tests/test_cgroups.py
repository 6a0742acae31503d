"""cgroups behind one interface: v1 for real on this host, v2 against a recorded cgroup2 tree."""
from __future__ import annotations

import os
import subprocess
import sys
import shutil
from pathlib import Path

import pytest

from dunnage.core.cgroups import CgroupV1, CgroupV2, Limits, host_version, open_cgroup
from dunnage.core.cgroups.common import CgroupError
from dunnage.core.stats import between
from dunnage.tui.rows import stats_row

pytestmark = pytest.mark.timeout(60)
RECORDED = Path(__file__).parent / "data" / "cgroup2"


@pytest.fixture
def v2tree(tmp_path):
    root = tmp_path / "cgroup2"
    shutil.copytree(RECORDED, root)
    return root


def test_v2_stats_follow_dockers_formulas(v2tree):
    cg = CgroupV2("dunnage/abc", root=str(v2tree))
    s = cg.stats()
    assert s.cpu_usage_ns == 2_390_000 * 1000                 # cpu.stat usage_usec * 1000
    assert s.mem_usage == 52428800 - 4194304                  # memory.current - inactive_file
    assert s.mem_limit == cg.host_memory()                    # "max": limited by host RAM
    assert (s.nr_periods, s.nr_throttled) == (120, 30)
    assert s.oom_kills == 1
    assert (s.pids_current, s.pids_limit) == (3, None)
    assert (s.io_read, s.io_write) == (1048576 + 4096, 2097152)


def test_v2_limits_and_controllers_are_written(v2tree):
    cg = CgroupV2("dunnage/new", root=str(v2tree))
    cg.create(Limits(memory=64 << 20, cpu_quota=50_000, pids=20))
    d = v2tree / "dunnage" / "new"
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "cpu.max").read_text() == "50000 100000"
    assert (d / "pids.max").read_text() == "20"
    # every ancestor delegates the controllers the container needs
    assert (v2tree / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids +io"
    assert (v2tree / "dunnage" / "cgroup.subtree_control").read_text() == "+cpu +cpuset +memory +pids +io"
    (d / "memory.max").write_text("67108864\n")
    assert cg.stats().mem_limit == min(64 << 20, cg.host_memory())


def test_stats_row_cpu_percent_is_one_core_per_hundred(v2tree):
    from dunnage.core.cgroups import CgroupStats
    from dunnage.core.containers import Container
    c = Container(None, "f" * 64, {"Name": "x"}, {"Pid": 0})
    a = CgroupStats(time_ns=0, cpu_usage_ns=0)
    b = CgroupStats(time_ns=10**9, cpu_usage_ns=5 * 10**8, mem_usage=3 << 20, mem_limit=64 << 20, pids_current=2)
    row = stats_row(between(c.id, c.name, a, b))
    assert row["CPUPerc"] == "50.00%"
    assert row["MemUsage"] == "3MiB / 64MiB"
    assert row["MemPerc"] == "4.69%"
    assert row["PIDs"] == "2"


@pytest.mark.skipif(host_version() != 1, reason="this host runs cgroup v2: covered by the engine tests")
def test_v1_real_group_create_limit_join_destroy():
    import subprocess
    cg = CgroupV1(f"dunnage/test-{os.getpid()}")
    cg.create(Limits(memory=32 << 20, cpu_quota=20_000, pids=7))
    try:
        p = subprocess.Popen(["sh", "-c", "read x"], stdin=subprocess.PIPE,
                             preexec_fn=cg.join_self)
        try:
            assert p.pid in cg.procs()
            s = cg.stats()
            assert s.mem_limit == 32 << 20 and s.pids_limit == 7 and s.pids_current == 1
        finally:
            p.communicate(b"\n", timeout=10)
        with pytest.raises(CgroupError):
            cg.set_limits(Limits(memory=-2))  # the kernel refuses
    finally:
        cg.destroy()
    assert not cg.exists()
    for d in cg.paths().values():  # the shared dunnage/ parent goes with the last group in it
        parent = os.path.dirname(d)
        assert not os.path.isdir(parent) or any(os.path.isdir(os.path.join(parent, x)) for x in os.listdir(parent))


def test_host_version_detection(v2tree, tmp_path):
    assert host_version(str(v2tree)) == 2
    assert host_version(str(tmp_path)) == 1
    # what the kernel mounted at /sys/fs/cgroup, asked independently of dunnage's check
    fstype = subprocess.run(["stat", "-f", "-c", "%T", "/sys/fs/cgroup"], capture_output=True, text=True).stdout.strip()
    assert open_cgroup("x").version == (2 if fstype == "cgroup2fs" else 1)


def test_v2_more_limits_are_written_as_runc_writes_them(v2tree):
    cg = CgroupV2("dunnage/abc", root=str(v2tree))
    d = v2tree / "dunnage" / "abc"
    for f in ("memory.swap.max", "cpu.weight", "cpuset.cpus", "io.max", "io.weight"):
        (d / f).write_text("")  # what a v2 kernel shows in a group with these controllers
    cg.set_limits(Limits(memory=64 << 20, memory_swap=96 << 20, cpu_shares=512, cpuset_cpus="0-1",
                         blkio_weight=300, device_read_bps=[(8, 0, 1 << 20)], device_write_bps=[(8, 0, 2 << 20)]))
    assert (d / "memory.swap.max").read_text() == str(32 << 20)  # docker's total minus the memory limit
    assert (d / "cpu.weight").read_text() == str(1 + (510 * 9999) // 262142)
    assert (d / "cpuset.cpus").read_text() == "0-1"
    assert (d / "io.weight").read_text() == "default 300"
    assert (d / "io.max").read_text() == f"8:0 rbps={1 << 20} wbps={2 << 20}"
    cg.set_limits(Limits(memory_swap=-1))
    assert (d / "memory.swap.max").read_text() == "max"
    (d / "io.weight").unlink()
    with pytest.raises(CgroupError, match="blkio-weight: this kernel does not support it"):
        cg.set_limits(Limits(blkio_weight=100))


def _cgroup2_mount() -> str | None:
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            if right.split()[:1] == ["cgroup2"]:
                return left.split()[4]
    return None


def _device_probe(cg, tmp_path) -> dict[str, str]:
    """In a child that joined the group: mknod device nodes and open them; what happened to each."""
    import json
    import subprocess
    code = r"""
import json, os, sys
out = {}
for name, ma, mi in (("null", 1, 3), ("zero", 1, 5), ("mem", 1, 1), ("kmsg", 1, 11), ("loop", 7, 0)):
    p = os.path.join(sys.argv[1], name)
    kind = 0o060000 if name == "loop" else 0o020000
    try:
        os.mknod(p, 0o600 | kind, os.makedev(ma, mi))
    except OSError as e:
        out[name] = "mknod " + e.strerror
        continue
    try:
        os.close(os.open(p, os.O_RDONLY))
        out[name] = "open"
    except OSError as e:
        out[name] = e.strerror
print(json.dumps(out))
"""
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], preexec_fn=cg.join_self,
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.skipif(_cgroup2_mount() is None, reason="no cgroup2 hierarchy mounted on this host")
def test_v2_device_rules_are_enforced_by_an_ebpf_program(tmp_path):
    """cgroup v2 has no devices controller: docker's rules become an eBPF program attached to the
    group (the real cgroup2 hierarchy: the unified one of this hybrid host). A container with
    CAP_MKNOD may make any node, but may open only the allowed ones."""
    from dunnage.core.cgroups import devices_bpf
    from dunnage.core.cgroups.common import DEFAULT_DEVICES
    cg = CgroupV2(f"dunnage/test-dev-{os.getpid()}", root=_cgroup2_mount())
    cg.create(Limits(devices=list(DEFAULT_DEVICES)))
    try:
        assert len(devices_bpf.attached(cg.dir)) == 1
        got = _device_probe(cg, tmp_path)
        assert got == {"null": "open", "zero": "open", "mem": "Operation not permitted",
                       "kmsg": "Operation not permitted", "loop": "Operation not permitted"}, got
        # set again (as a restart would): the new program replaces the old, never two
        cg.set_limits(Limits(devices=list(DEFAULT_DEVICES) + ["c 1:11 r", "b 7:* rwm"]))
        assert len(devices_bpf.attached(cg.dir)) == 1
        for f in tmp_path.iterdir():
            f.unlink()
        got = _device_probe(cg, tmp_path)
        assert got == {"null": "open", "zero": "open", "mem": "Operation not permitted",
                       "kmsg": "open", "loop": "open"}, got
        # no mknod allowed at all: the node cannot even be made
        cg.set_limits(Limits(devices=["c 1:3 rw"]))
        for f in tmp_path.iterdir():
            f.unlink()
        got = _device_probe(cg, tmp_path)
        assert got["null"] == "mknod Operation not permitted" and got["loop"] == "mknod Operation not permitted"
    finally:
        cg.destroy()
    assert not cg.exists()
