"""The store's records: versioned, and atomic even when the writer is killed
(the locks between fronts: tests/test_store.py)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dunnage.core.store import SCHEMA_VERSION, StoreError, pack, read_record, write_record


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
