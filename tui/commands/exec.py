"""Exec and attach: a command in a running container, and its input and output."""
from __future__ import annotations

import argparse
import os

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter


def cmd_exec(e: Engine, a) -> int:
    if a.tty and not os.isatty(0) and a.interactive:
        raise InvalidParameter("the input device is not a TTY", 1)
    from dunnage.tui.commands.run import env_files
    try:
        env = env_files(a.env_file) + a.env
    except EngineError as ex:  # (docker's exec: 1 where run's is 125)
        ex.code = 1
        raise
    code = e.exec(a.container, a.command, tty=a.tty, interactive=a.interactive, detach=a.detach,
                  user=a.user, workdir=a.workdir, env=env)
    return code


def cmd_attach(e: Engine, a) -> int:
    from dunnage.core.attach import run_client
    c = e.container(a.container)
    sock = e.attach_socket(c.id)
    how, code = run_client(sock, not a.no_stdin, bool(c.config["Config"].get("Tty")))
    sock.close()
    if how == "detached":
        return 0
    return e.wait(c.id) if code is None else code


def register(sub) -> None:
    p = sub.add_parser("exec", help="run a command in a running container", add_help=False)
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("-u", "--user", help="user[:group]")
    p.add_argument("-w", "--workdir", help="working directory")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--env-file", action="append", default=[], help="read KEY=VALUE lines from a file (as run's)")
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_exec)

    p = sub.add_parser("attach", help="attach to a running container's input and output")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("container")
    p.set_defaults(fn=cmd_attach)
