"""The log's line joining (core/logs.py), without a container."""
from __future__ import annotations

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
