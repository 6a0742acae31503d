"""docker stats' formulas from recorded samples, and the text the fronts make of them
(tests/test_cgroups.py and tests/test_network.py take samples of real containers)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

from dunnage.core.cgroups import CgroupStats, CgroupV2
from dunnage.core.containers import Container
from dunnage.core.stats import between
from dunnage.tui.rows import stats_row, status_text

RECORDED = Path(__file__).parent.parent / "data" / "cgroup2"


def _two_samples(tmp_path):
    """Two samples of the recorded cgroup2 tree, one second apart: 0.5 s more CPU, 1 MiB
    more memory, of which 512 KiB more inactive file cache."""
    root = tmp_path / "cgroup2"
    shutil.copytree(RECORDED, root)
    d = root / "dunnage" / "abc"
    cg = CgroupV2("dunnage/abc", root=str(root))
    a = cg.stats()
    (d / "cpu.stat").write_text((d / "cpu.stat").read_text().replace("usage_usec 2390000", "usage_usec 2890000"))
    (d / "memory.current").write_text(f"{52428800 + (1 << 20)}\n")
    (d / "memory.stat").write_text((d / "memory.stat").read_text().replace(
        "inactive_file 4194304", f"inactive_file {4194304 + (512 << 10)}"))
    (d / "memory.max").write_text(f"{256 << 20}\n")
    b = dataclasses.replace(cg.stats(), time_ns=a.time_ns + 10**9)
    return a, b


def test_cpu_percent_is_dockers_from_two_recorded_samples(tmp_path):
    a, b = _two_samples(tmp_path)
    f = between("f" * 64, "web", a, b)
    assert f.cpu_percent == 50.0  # 0.5 s of CPU in 1 s of wall time: half a core
    assert between("f" * 64, "web", b, a).cpu_percent == 0.0  # samples out of order: no figure
    assert between("f" * 64, "web", None, b).cpu_percent == 0.0  # one sample: no figure yet


def test_memory_is_usage_without_inactive_file_over_the_limit(tmp_path):
    a, b = _two_samples(tmp_path)
    f = between("f" * 64, "web", a, b)
    assert f.mem_usage == 52428800 + (1 << 20) - 4194304 - (512 << 10)
    assert f.mem_limit == 256 << 20
    assert f.mem_percent == f.mem_usage / (256 << 20) * 100
    assert stats_row(f)["MemUsage"] == "46.5MiB / 256MiB"
    assert stats_row(f)["MemPerc"] == "18.16%"


def test_rates_between_samples_and_zeros_without_a_container_running():
    a = CgroupStats(time_ns=10**9, net_rx=1000, net_tx=500, io_read=0, io_write=4096)
    b = CgroupStats(time_ns=3 * 10**9, net_rx=5000, net_tx=500, net_rx_packets=7, net_tx_packets=3,
                    io_read=8192, io_write=4096, pids_current=4, pids_limit=20)
    f = between("a" * 64, "db", a, b)
    assert (f.net_rx_rate, f.net_tx_rate, f.io_read_rate, f.io_write_rate) == (2000.0, 0.0, 4096.0, 0.0)
    assert (f.net_rx, f.net_tx, f.io_read, f.io_write, f.pids, f.pids_limit) == (5000, 500, 8192, 4096, 4, 20)
    assert stats_row(f) == {"BlockIO": "8.19kB / 4.1kB", "CPUPerc": "0.00%", "Container": "a" * 12,
                            "ID": "a" * 12, "MemPerc": "0.00%", "MemUsage": "0B / 0B", "Name": "db",
                            "NetIO": "5kB / 500B", "NetPackets": "7 / 3", "PIDs": "4"}
    stopped = stats_row(between("a" * 64, "db", None, None))
    assert stopped["CPUPerc"] == "0.00%" and stopped["NetIO"] == "0B / 0B" and stopped["PIDs"] == "0"


def _ago(seconds: float) -> str:
    t = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_status_text_is_docker_ps_status_column():
    def c(**state):
        return Container(None, "f" * 64, {"Name": "x"}, state)
    assert status_text(c()) == "Created"
    assert status_text(c(Status="created")) == "Created"
    assert status_text(c(Status="running", StartedAt=_ago(3 * 3600 + 5))) == "Up 3 hours"
    assert status_text(c(Status="running", StartedAt=_ago(90), Health={"Status": "starting"})) == \
        "Up About a minute (health: starting)"
    assert status_text(c(Status="running", StartedAt=_ago(30.5), Health={"Status": "healthy"})) == \
        "Up 30 seconds (healthy)"
    assert status_text(c(Status="paused", StartedAt=_ago(600))) == "Up 10 minutes (Paused)"
    assert status_text(c(Status="exited", ExitCode=137, FinishedAt=_ago(47 * 3600 + 100))) == \
        "Exited (137) 47 hours ago"
    assert status_text(c(Status="exited", FinishedAt=_ago(3 * 86400))) == "Exited (0) 3 days ago"
    assert status_text(c(Status="restarting", ExitCode=1, FinishedAt=_ago(0.2))) == \
        "Restarting (1) Less than a second ago"
