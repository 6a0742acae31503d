"""--memory-reservation (docker's soft limit) end to end: run and create's flag, update, the
cgroup file read from the host, inspect's HostConfig.MemoryReservation, the Engine API."""
from __future__ import annotations

import json
import os

import pytest

from dunnage.core.cgroups import host_version, open_cgroup

from test_api import api, docker, service  # noqa: F401 (fixtures)
from test_ociruntime import bundle, rt, set_config  # noqa: F401 (a fixture, its helpers)

pytestmark = pytest.mark.timeout(120)


def _soft_limit(cid: str) -> int:
    """What the kernel holds for the container's group: v1's soft limit, v2's memory.low."""
    paths = open_cgroup(cid).paths()
    if host_version() == 1:
        path = os.path.join(paths["memory"], "memory.soft_limit_in_bytes")
    else:
        path = os.path.join(paths["unified"], "memory.low")
    with open(path) as f:
        return int(f.read().strip())


def _hc(run_cli, name: str) -> dict:
    return json.loads(run_cli("inspect", name).stdout)[0]["HostConfig"]


def test_run_sets_the_soft_limit_and_update_changes_it_live(run_cli, engine, image):
    r = run_cli("run", "-d", "--name", "resv", "--network", "none", "-m", "64m", "--memory-reservation", "32m",
                image, "sleep", "300")
    assert r.returncode == 0, r.stderr
    c = engine.container("resv")
    assert _soft_limit(c.id) == 32 << 20
    assert (_hc(run_cli, "resv")["MemoryReservation"], _hc(run_cli, "resv")["Memory"]) == (32 << 20, 64 << 20)
    assert run_cli("update", "--memory-reservation", "48m", "resv").returncode == 0
    assert _soft_limit(c.id) == 48 << 20 and _hc(run_cli, "resv")["MemoryReservation"] == 48 << 20
    # above the limit: docker's message, nothing changed
    r = run_cli("update", "--memory-reservation", "100m", "resv")
    assert r.returncode == 1 and b"Minimum memory limit can not be less than memory reservation limit" in r.stderr
    assert _soft_limit(c.id) == 48 << 20 and _hc(run_cli, "resv")["MemoryReservation"] == 48 << 20
    r = run_cli("update", "--memory", "40m", "resv")
    assert r.returncode == 1 and b"memory reservation limit" in r.stderr
    assert _hc(run_cli, "resv")["Memory"] == 64 << 20
    # a stopped container keeps it in its record and gets it when it starts again
    assert run_cli("stop", "-t", "0", "resv").returncode == 0
    assert run_cli("update", "--memory-reservation", "16m", "resv").returncode == 0
    assert run_cli("start", "resv").returncode == 0
    assert _soft_limit(c.id) == 16 << 20


def test_create_without_a_reservation_shows_zero(run_cli, engine, image):
    c = engine.create(image, ["true"])
    assert engine.inspect(c.id)["HostConfig"]["MemoryReservation"] == 0
    c = engine.create(image, ["true"], memory_reservation="20m")
    assert engine.inspect(c.id)["HostConfig"]["MemoryReservation"] == 20 << 20


@pytest.mark.parametrize("args, message", [
    (["-m", "16m", "--memory-reservation", "32m"],
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    (["--memory-reservation", "1m"], "Minimum memory reservation allowed is 6MB"),
    (["--memory-reservation", "lots"], "invalid --memory-reservation"),
])
def test_bad_reservations_are_one_line_errors_and_make_nothing(run_cli, engine, image, args, message):
    before = {c.id for c in engine.containers(all_=True)}
    r = run_cli("create", *args, image, "true")
    assert r.returncode == 125
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert {c.id for c in engine.containers(all_=True)} == before


def test_the_api_creates_and_updates_it(docker, engine):
    r = docker("run", "-d", "--network", "none", "-m", "64m", "--memory-reservation", "24m", "local/busybox",
               "sleep", "300")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    assert _soft_limit(cid) == 24 << 20
    assert docker("inspect", "-f", "{{.HostConfig.MemoryReservation}}", cid).stdout.strip() == str(24 << 20)
    r = docker("update", "--memory-reservation", "40m", cid)
    assert r.returncode == 0, r.stderr
    assert _soft_limit(cid) == 40 << 20
    assert engine.inspect(cid)["HostConfig"]["MemoryReservation"] == 40 << 20
    r = docker("update", "--memory-reservation", "80m", cid)
    assert r.returncode != 0 and "memory reservation limit" in r.stderr
    assert engine.inspect(cid)["HostConfig"]["MemoryReservation"] == 40 << 20
    engine.remove(cid, force=True)


def test_v2_writes_memory_low_as_runc_does(tmp_path):
    import shutil
    from pathlib import Path
    from dunnage.core.cgroups import CgroupV2, Limits
    root = tmp_path / "cgroup2"
    shutil.copytree(Path(__file__).parent / "data" / "cgroup2", root)
    (root / "dunnage" / "abc" / "memory.low").write_text("0")  # what a v2 kernel shows
    CgroupV2("dunnage/abc", root=str(root)).set_limits(Limits(memory=64 << 20, memory_reservation=32 << 20))
    assert (root / "dunnage" / "abc" / "memory.low").read_text() == str(32 << 20)


def test_dunnage_runtime_takes_a_bundles_reservation_and_updates_it(bundle):
    """linux.resources.memory.reservation (what dockerd sends in config.json, and `dunnage-runtime
    update --memory-reservation`) reaches the cgroup, as under runc."""
    from peers import cgroup_roots
    b, state = bundle
    c = set_config(b, args=["sleep", "300"])
    c["linux"].setdefault("resources", {})["memory"] = {"limit": 64 << 20, "reservation": 32 << 20}
    (b / "config.json").write_text(json.dumps(c))
    r = rt(state, "run", "-d", "--bundle", str(b), "resv1")
    assert r.returncode == 0, r.stderr
    if host_version() == 1:
        f = next(os.path.join(r_, "dunnage-runtime", "resv1", "memory.soft_limit_in_bytes") for r_ in cgroup_roots()
                 if r_.endswith("/memory"))
    else:
        f = next(os.path.join(r_, "dunnage-runtime", "resv1", "memory.low") for r_ in cgroup_roots())
    assert open(f).read().strip() == str(32 << 20)
    r = rt(state, "update", "--memory-reservation", str(16 << 20), "resv1")
    assert r.returncode == 0, r.stderr
    assert open(f).read().strip() == str(16 << 20)
    assert rt(state, "delete", "--force", "resv1").returncode == 0
