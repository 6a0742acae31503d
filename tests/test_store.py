"""The store: atomic, versioned records; locks that two fronts at once respect."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dunnage.core.store import SCHEMA_VERSION, StoreError, pack, read_record, write_record

from conftest import DUNNAGE, cli

pytestmark = pytest.mark.timeout(120)


def test_records_are_versioned_and_atomic(tmp_path):
    p = tmp_path / "r.msgpack"
    write_record(p, {"a": 1})
    assert read_record(p) == {"a": 1}
    write_record(p, {"a": 2})
    assert read_record(p) == {"a": 2}
    assert os.listdir(tmp_path) == ["r.msgpack"]  # no temporary file left
    p.write_bytes(pack({"schema": SCHEMA_VERSION + 1, "data": {}}))
    with pytest.raises(StoreError, match="newer dunnage"):
        read_record(p)
    p.write_bytes(pack([1, 2, 3]))
    with pytest.raises(StoreError, match="not a dunnage record"):
        read_record(p)


def test_kill_during_write_leaves_old_or_new(tmp_path):
    """A writer killed at random moments never leaves a torn record."""
    p = tmp_path / "r.msgpack"
    write_record(p, {"n": 0, "pad": "x" * 100_000})
    import random
    import time
    last = 0
    for _ in range(5):
        code = (f"import sys; sys.path[:0] = {sys.path!r}\n"
                "from dunnage.core.store import write_record\n"
                f"n = {last}\nwhile True:\n    n += 1\n    write_record({str(p)!r}, {{'n': n, 'pad': 'x' * 100000}})\n")
        proc = subprocess.Popen([sys.executable, "-c", code])
        try:  # the writer is writing: the record moved on from the last round's
            end = time.monotonic() + 30
            while read_record(p)["n"] == last:
                assert time.monotonic() < end and proc.poll() is None, "the writer never wrote"
                time.sleep(0.01)
            time.sleep(random.uniform(0, 0.05))  # then killed at a random moment of a write
        finally:
            proc.kill()
            proc.wait()
        rec = read_record(p)
        assert rec["pad"] == "x" * 100_000 and rec["n"] > last  # whole, and one of this writer's
        last = rec["n"]


def test_two_fronts_cannot_take_the_same_name(session_root, engine, image):
    procs = [subprocess.Popen([DUNNAGE, "--root", str(session_root),
                               "create", "--name", "race", image, "true"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    codes = [p.wait(60) for p in procs]
    assert sorted(codes) == [0, 125, 125, 125]
    assert [c.name for c in engine.containers(all_=True)].count("race") == 1


def test_root_flag_and_env_move_the_store(tmp_path, image):
    r = cli(tmp_path / "a", "images")
    assert r.returncode == 0
    assert (tmp_path / "a" / "containers").is_dir()
    env = dict(os.environ, DUNNAGE_ROOT=str(tmp_path / "b"))
    r = subprocess.run([DUNNAGE, "ps"], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0
    assert (tmp_path / "b" / "containers").is_dir()


def test_a_state_record_lost_to_a_crash_shows_the_container_exited(session_root, engine, image):
    """State records are not fsynced (store.py): after a power loss one may be found
    empty. The container is then listed as exited with the reason, and can be removed."""
    c = engine.create(image, ["true"], name="lost-state")
    (c.dir / "state.msgpack").write_bytes(b"")
    r = cli(session_root, "ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert "lost-state exited" in r.stdout.decode().splitlines()
    assert "state was lost" in engine.inspect("lost-state")["State"]["Error"]
    assert cli(session_root, "rm", "lost-state").returncode == 0
