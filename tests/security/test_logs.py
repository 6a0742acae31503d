"""Logs (issue 16, item 11): the default log is bounded as docker's local driver
bounds it, and a log of any size is read in bounded memory, --tail included."""
from __future__ import annotations

import os
import subprocess
import tracemalloc

import pytest

from conftest import DUNNAGE
from dunnage.core.logs import MAX_FILE, MAX_SIZE, tail_lines

pytestmark = pytest.mark.timeout(180)


def _run_to_end(run_cli, *args) -> str:
    p = run_cli("run", "-d", *args, timeout=60)
    assert p.returncode == 0, p.stderr
    cid = p.stdout.decode().strip()
    w = run_cli("wait", cid, timeout=120)
    assert w.stdout.strip() == b"0", w.stderr
    return cid


def test_the_default_log_is_bounded_and_rotates(run_cli, engine, image):
    cid = _run_to_end(run_cli, image, "sh", "-c", "yes | head -c 52428800; echo the-end")
    path = str(engine.container(cid).log_path)
    sizes = [os.path.getsize(p) for p in [path] + [f"{path}.{i}" for i in range(1, 10) if os.path.exists(f"{path}.{i}")]]
    assert len(sizes) == 3 and len(sizes) <= MAX_FILE
    assert all(s <= MAX_SIZE for s in sizes)
    lc = engine.container(cid).config["HostConfig"]["LogConfig"]
    assert (lc["MaxSize"], lc["MaxFile"]) == (20 << 20, 5)
    p = run_cli("logs", "--tail", "1", cid)
    assert (p.returncode, p.stdout) == (0, b"the-end\n")


def test_a_log_over_100_MiB_is_read_whole_and_tailed_in_bounded_memory(session_root, run_cli, engine, image):
    cid = _run_to_end(run_cli, "--log-opt", "max-size=200m", image, "sh", "-c", "yes | head -c 125829120; echo last-line")
    path = str(engine.container(cid).log_path)
    assert os.path.getsize(path) > 120 << 20 and not os.path.exists(path + ".1")
    p = run_cli("logs", "--tail", "1", cid, timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"last-line\n", b"")
    p = run_cli("logs", "--tail", "3", cid, timeout=120)
    assert p.stdout == b"y\ny\nlast-line\n"
    whole = subprocess.run(f"{DUNNAGE} --root {session_root} logs {cid} | wc -c", shell=True,
                           capture_output=True, timeout=120)
    assert int(whole.stdout) == (120 << 20) + len("last-line\n"), whole.stderr
    tracemalloc.start()
    try:
        lines, count = tail_lines(path, 5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [x[2] for x in lines] == [b"y\n"] * 4 + [b"last-line\n"] and count > 1000
    assert peak < 8 << 20, peak
