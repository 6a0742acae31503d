"""The log's line joining and following (core/logs.py), without a container."""
from __future__ import annotations

import os
import time


def test_line_joiner_holds_a_piece_until_its_newline():
    from dunnage.core.logs import PROMPT_NS, LineJoiner
    now = time.time_ns()
    j = LineJoiner()
    assert j.feed(now + 1, "stdout", b"ab") == []
    assert j.feed(now + 2, "stderr", b"x\ny") == [(now + 2, "stderr", b"x")]
    assert j.feed(now + 3, "stdout", b"c\nd\ne") == [(now + 1, "stdout", b"abc"), (now + 3, "stdout", b"d")]
    assert j.feed(now + 4, "stdout", b"f") == []  # the held piece keeps its first time
    assert j.flush(PROMPT_NS) == []  # too young to be a prompt
    assert sorted(j.flush()) == [(now + 2, "stderr", b"y"), (now + 3, "stdout", b"ef")]
    assert j.flush() == []


def _follow_ends(records, timeout: float = 5.0) -> list:
    """The rest of the follow RECORDS, read on a thread that must end within TIMEOUT."""
    import threading
    out: list = [None]
    t = threading.Thread(target=lambda: out.__setitem__(0, list(records)), daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "the follow did not end"
    return out[0]


def test_a_follow_ends_when_the_log_is_removed_under_it(tmp_path):
    """The container removed (docker rm) with its log while a follow is between reads:
    the follow ends once its writer is gone, rather than waiting for the file to come back."""
    from dunnage.core.logs import LogWriter, read_logs
    path = str(tmp_path / "log")
    w = LogWriter(path)
    w.write("stdout", b"one\n")
    gone = [False]
    follow = read_logs(path, follow=True, alive=lambda: not gone[0], poll=0.01)
    assert next(follow)[1:] == ("stdout", b"one\n")
    w.write("stdout", b"two\n")
    w.close()
    os.unlink(path)
    gone[0] = True
    assert [r[1:] for r in _follow_ends(follow)] == [("stdout", b"two\n")]  # what was written is read


def test_a_follow_of_a_log_never_written_ends_with_its_writer(tmp_path):
    """A container that never ran has no log file yet: a follow ends once alive() says no."""
    from dunnage.core.logs import read_logs
    assert _follow_ends(read_logs(str(tmp_path / "log"), follow=True, alive=lambda: False, poll=0.01)) == []
