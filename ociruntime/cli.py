"""dunnage-runtime: runc's command line (as containerd's runc shim, CRI-O's conmon, podman and
dockerd call it) over the verbs of this package."""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional

from dunnage.core.errors import DunnageError, InvalidParameter

from . import state

VERSION = "0.1.0"


class _Formatter(argparse.HelpFormatter):
    """argparse's, sized as shutil.get_terminal_size would size it, without importing shutil
    (argparse makes a formatter for each argument it adds; shutil brings lzma and bz2)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width=None):
        if width is None:
            try:
                width = int(os.environ.get("COLUMNS", ""))
            except ValueError:
                width = 0
            if width <= 0:
                try:
                    width = os.get_terminal_size(sys.__stdout__.fileno()).columns
                except (AttributeError, ValueError, OSError):
                    width = 0
            width = (width or 80) - 2
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kw)

    def error(self, message: str):
        raise InvalidParameter(message)


class _Log:
    """runc's --log and --log-format: containerd's shim reads the last error from a JSON log."""

    def __init__(self, path: Optional[str], fmt: str):
        self.path, self.fmt = path, fmt

    def __call__(self, level: str, msg: str) -> None:
        if self.path:
            import datetime as dt
            now = dt.datetime.now(dt.timezone.utc).isoformat().replace("+00:00", "Z")
            line = (json.dumps({"level": level, "msg": msg, "time": now}) if self.fmt == "json"
                    else f'time="{now}" level={level} msg="{msg}"')
            try:
                with open(self.path, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass
        if level in ("error", "warning"):
            print(f"dunnage-runtime: {msg}" if level == "error" else msg, file=sys.stderr)


class _Skipped:
    """A verb's parser not built (build_parser's ONLY names another verb)."""

    def add_argument(self, *args, **kw) -> None:
        pass


VERBS = ("create", "run", "start", "state", "kill", "delete", "list", "ps", "exec", "update", "events", "pause",
         "resume", "features")
_VALUED = {"--root", "--log", "--log-format", "--criu", "--rootless"}  # global flags with a value


def verb_of(argv: list[str]) -> Optional[str]:
    """The verb ARGV names (None if unsure: help, version, an unknown word)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in _VALUED:
            i += 2
            continue
        if a in ("-h", "--help", "-v", "--version"):
            return None
        if not a.startswith("-"):
            return a if a in VERBS else None
        i += 1
    return None


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """runc's command line; with ONLY, that verb's parser alone (a call parses one verb:
    argparse's 85 arguments of every verb cost a create ~20 ms, a terminal-size query each)."""
    ap = _Parser(prog="dunnage-runtime", description="dunnage's OCI runtime, with runc's command line")
    ap.add_argument("--root", default=state.DEFAULT_ROOT, help="the containers' state directory")
    ap.add_argument("--log", help="log file (default: standard error only)")
    ap.add_argument("--log-format", default="text", choices=["text", "json"])
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--systemd-cgroup", action="store_true", help="refused: cgroupfs paths only")
    ap.add_argument("--criu", help=argparse.SUPPRESS)
    ap.add_argument("--rootless", help=argparse.SUPPRESS)
    ap.add_argument("-v", "--version", action="store_true")
    sub = ap.add_subparsers(dest="verb", parser_class=_Parser)

    def verb(name, *, id_=True, **kw):
        if only is not None and name != only:
            return _Skipped()
        p = sub.add_parser(name, **kw)
        if id_:
            p.add_argument("id")
        return p

    for name in ("create", "run"):
        p = verb(name)
        p.add_argument("-b", "--bundle", default=".")
        p.add_argument("--pid-file")
        p.add_argument("--console-socket")
        p.add_argument("--no-pivot", action="store_true")
        p.add_argument("--no-new-keyring", action="store_true")
        p.add_argument("--preserve-fds", type=int, default=0)
        if name == "run":
            p.add_argument("-d", "--detach", action="store_true")
            p.add_argument("--keep", action="store_true")
    verb("start")
    p = verb("state")
    p = verb("kill")
    p.add_argument("signal", nargs="?", default="SIGTERM")
    p.add_argument("-a", "--all", action="store_true")
    p = verb("delete")
    p.add_argument("-f", "--force", action="store_true")
    p = verb("list", id_=False)
    p.add_argument("-f", "--format", default="table", choices=["table", "json"])
    p.add_argument("-q", "--quiet", action="store_true")
    p = verb("ps")
    p.add_argument("-f", "--format", default="table", choices=["table", "json"])
    p.add_argument("ps_args", nargs=argparse.REMAINDER)
    p = verb("exec")
    p.add_argument("-p", "--process", help="the OCI process object, as JSON")
    p.add_argument("-d", "--detach", action="store_true")
    p.add_argument("--pid-file")
    p.add_argument("--console-socket")
    p.add_argument("-t", "--tty", action="store_true")
    p.add_argument("--cwd")
    p.add_argument("-e", "--env", action="append", default=[])
    p.add_argument("-u", "--user")
    p.add_argument("-g", "--additional-gids", action="append", default=[])
    p.add_argument("-c", "--cap", action="append", default=[])
    p.add_argument("--no-new-privs", action="store_true")
    p.add_argument("--preserve-fds", type=int, default=0)
    p.add_argument("--process-label")
    p.add_argument("--apparmor")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p = verb("update")
    p.add_argument("-r", "--resources", help="linux.resources as JSON (- for standard input)")
    for flag in ("memory", "memory-swap", "memory-reservation", "cpu-shares", "cpu-quota", "cpu-period",
                 "cpuset-cpus", "cpuset-mems", "pids-limit", "blkio-weight"):
        p.add_argument(f"--{flag}")
    p = verb("events")
    p.add_argument("--stats", action="store_true", help="print the container's stats once")
    p.add_argument("--interval", default="5s")
    verb("pause")
    verb("resume")
    verb("features", id_=False)
    return ap


_PARSERS: dict = {}


def parser_for(only: Optional[str]) -> argparse.ArgumentParser:
    """build_parser(ONLY), built once per process: the warm server builds every verb's
    before it forks a call's child (a parser built there cost each call ~2 ms: argparse
    asks gettext, which looks for message catalogues, and the terminal's size, per argument)."""
    p = _PARSERS.get(only)
    if p is None:
        p = _PARSERS[only] = build_parser(only)
    return p


def _run(a, log) -> int:
    from .create import create
    from .delete import delete
    from .start import start
    say = lambda s: log("warning", s)  # noqa: E731
    console, listener, relay = a.console_socket, None, None
    if not console and not a.detach and _wants_terminal(a.bundle):  # runc's: the terminal relayed to ours
        import socket
        import tempfile
        console = os.path.join(tempfile.mkdtemp(prefix="dunnage-runtime-"), "console.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(console)
        listener.listen(1)
    try:
        pid = create(a.root, a.id, a.bundle, a.pid_file, console, say, no_new_keyring=a.no_new_keyring)
        if listener is not None:
            from .exec import Relay
            try:
                listener.settimeout(10)
                conn, _ = listener.accept()  # (the init sent its terminal's master as it connected)
                with conn:
                    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
            except BaseException:
                delete(a.root, a.id, force=True)
                raise
            relay = Relay(fds[0])
    finally:
        if listener is not None:
            listener.close()
            os.unlink(console)
            os.rmdir(os.path.dirname(console))
    try:
        try:
            start(a.root, a.id, say)
        except BaseException:
            delete(a.root, a.id, force=True)
            raise
        if a.detach:
            return 0
        _, status = os.waitpid(pid, 0)
    finally:
        if relay is not None:
            relay.close()
    if not a.keep:
        delete(a.root, a.id, force=True, say=say)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _wants_terminal(bundle: str) -> bool:
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            return bool((json.load(f).get("process") or {}).get("terminal"))
    except (OSError, ValueError, AttributeError):
        return False  # (create says what is wrong with it)


def dispatch(a, log, fork=None) -> int:
    """Run the verb A names; FORK: how create forks the init (create.create's), when not here."""
    say = lambda s: log("warning", s)  # noqa: E731
    if a.systemd_cgroup:
        raise InvalidParameter("--systemd-cgroup is not supported: dunnage-runtime manages cgroupfs paths")
    if a.verb == "create":
        from .create import create, fork_here
        create(a.root, a.id, a.bundle, a.pid_file, a.console_socket, say, fork or fork_here, a.no_new_keyring)
    elif a.verb == "run":
        return _run(a, log)
    elif a.verb == "start":
        from .start import start
        start(a.root, a.id, say)
    elif a.verb == "state":
        from .info import state_of
        print(json.dumps(state_of(a.root, a.id), indent=2))
    elif a.verb == "kill":
        from .kill import kill
        kill(a.root, a.id, a.signal, a.all)
    elif a.verb == "delete":
        from .delete import delete
        delete(a.root, a.id, a.force, say)
    elif a.verb == "list":
        from .info import listing, table
        rows = listing(a.root)
        if a.quiet:
            sys.stdout.write("".join(r["id"] + "\n" for r in rows))
        elif a.format == "json":
            print(json.dumps(rows))
        else:
            sys.stdout.write(table(rows))
    elif a.verb == "ps":
        from .info import pids
        found = pids(a.root, a.id)
        if a.format == "json":
            print(json.dumps(found))
        else:
            import subprocess
            out = subprocess.run(["ps", *(a.ps_args or ["-ef"])], capture_output=True, text=True).stdout.splitlines()
            if out:
                head = out[0].split()
                col = head.index("PID") if "PID" in head else 1
                print(out[0])
                for line in out[1:]:
                    f = line.split()
                    if len(f) > col and f[col].isdigit() and int(f[col]) in found:
                        print(line)
    elif a.verb == "exec":
        from .exec import exec_
        return exec_(a.root, a.id, a, say)
    elif a.verb == "update":
        from .update import update
        update(a.root, a.id, a, say)
    elif a.verb == "events":
        from dunnage.core.units import parse_duration
        from .events import events
        events(a.root, a.id, a.stats, parse_duration(a.interval) / 1e9, lambda s: print(s, flush=True))
    elif a.verb in ("pause", "resume"):
        from .pause import pause
        pause(a.root, a.id, a.verb == "pause")
    elif a.verb == "features":
        from .info import features
        print(json.dumps(features(), indent=2))
    return 0


def main(argv: Optional[list[str]] = None, fork=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = _Log(None, "text")
    try:
        a = parser_for(verb_of(argv)).parse_args(argv)
        log = _Log(a.log, a.log_format)
        if a.version:
            print(f"dunnage-runtime version {VERSION}\nspec: {state.SPEC_VERSION}")
            return 0
        if not a.verb:
            raise InvalidParameter("a command is needed (see dunnage-runtime --help)")
        return dispatch(a, log, fork)
    except DunnageError as e:
        log("error", str(e))
        return 1
    except BrokenPipeError:
        return 0
    except OSError as e:
        log("error", str(e))
        return 1
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
