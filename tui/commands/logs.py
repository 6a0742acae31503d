"""Logs: a container's output, followed, tailed, timestamped."""
from __future__ import annotations

import itertools
import sys

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter
from dunnage.tui.commands.grammar import parse_since


def cmd_logs(e: Engine, a) -> int:
    import datetime as dt
    from dunnage.core.logs import PROMPT_NS, LineJoiner
    since = parse_since(a.since) if a.since else None
    until = parse_since(a.until) if a.until else None
    tail = None
    details = None
    if a.details:
        from dunnage.core.logs import details_prefix
        details = details_prefix(e.container(a.container).config)
    if a.tail is not None and a.tail != "all":
        try:
            tail = int(a.tail)
        except ValueError:
            raise InvalidParameter(f'invalid value for --tail: "{a.tail}"', 1) from None

    def write(t: int, stream: str, data: bytes) -> None:
        if since is not None and t < since or until is not None and t > until:
            return
        if details is not None:
            data = details + data
        if a.timestamps:  # docker's RFC3339NanoFixed: nine digits always
            data = (dt.datetime.fromtimestamp(t // 10**9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                    + f".{t % 10**9:09d}Z ").encode() + data
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        out.write(data)
        out.flush()

    # with timestamps, details or --tail the log is read as lines (a line the pump read in
    # two pieces is one line); otherwise it goes out as it was written
    joiner = LineJoiner() if a.timestamps or a.details or tail is not None else None

    def caught_up() -> bool:  # a piece held long enough is a prompt: out it goes
        for t, stream, text in joiner.flush(PROMPT_NS) if joiner else ():
            write(t, stream, text)
        return False
    try:
        if tail is not None:
            done = _tail(e, a.container, tail, joiner)
            for t, stream, line in done[0]:
                write(t, stream, line)
            records = e.logs(a.container, follow=True, stop=caught_up) if a.follow else iter(())
            records = itertools.islice(records, done[1], None)
        else:
            records = e.logs(a.container, follow=a.follow, stop=caught_up)
        for t, stream, data in records:
            if until is not None and t > until and a.follow:
                break
            if joiner is None:
                write(t, stream, data)
                continue
            for t0, s0, line in joiner.feed(t, stream, data):
                write(t0, s0, line + b"\n")
        for t, stream, text in joiner.flush() if joiner else ():
            write(t, stream, text)
    except KeyboardInterrupt:
        return 130
    return 0


def _tail(e: Engine, ref: str, n: int, joiner) -> tuple[list, int]:
    """The last N lines written so far (a piece without its newline last, as it is), and how
    many records that read; JOINER is left holding nothing."""
    from dunnage.core.logs import tail_lines
    return tail_lines(str(e.container(ref).log_path), n)


def register(sub) -> None:
    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("--details", action="store_true",
                   help="each line after the attributes --log-opt labels=/env= name (docker's)")
    p.add_argument("-n", "--tail", help="number of lines from the end (or all)")
    p.add_argument("--since", help="show logs since (10m, a unix time, or an ISO time)")
    p.add_argument("--until", help="show logs before (10m, a unix time, or an ISO time)")
    p.add_argument("container")
    p.set_defaults(fn=cmd_logs)
