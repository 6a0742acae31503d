"""The fork server: one process per dunnage root from which the shims are forked,
and in which commands run.

A shim (whose thread serves the container's root) is a Python process; forked from
the front that ran the container, it shares only with itself what the front had
imported.  Forked from this long-lived process instead, every shim shares its pages
(the interpreter, every module they use, imported and frozen here so the collector
never writes to them) with all the others.

Commands: the `dunnage` script (bin/dunnage) hands its command here when a server
is up, and the command runs in a child forked for it, with the script's arguments,
environment, working directory, umask and stdin/stdout/stderr: no interpreter start
and no imports on the command's path (a command run by its own process spends about
120 ms on those before it does anything).  The script forwards signals to the child;
the child ends the command (as ctrl-c does) if the script goes away.  The child is
forked ahead: a spare (SPARE_NAME) waits for the next command, so that fork is off
the command's path; it does not keep the server up, and leaves when the server does.

It is started by the first front that needs one (forked from it, so no new
interpreter: client.py's spawn_shim), or by a command that ran in its own process
because none was up, for the commands that follow (client.py's start_for_next), lives while any shim or command it forked does (it is the shims'
subreaper, so they stay its children), and leaves LINGER seconds after the last one
ended.  A front whose dunnage differs from the server's (an upgrade) is refused, and
the server leaves at once; without a server (or refused) a front forks the shim
itself, and the script runs its command itself.  Nothing depends on it: the shims
do not notice it going.

Protocol, on `<run>/forkserver.sock` (root's only, and the server serves only its
own user):
  - a shim: the front sends one msgpack record {stamp, root, run, cid} with the
    write end of its ready pipe (SCM_RIGHTS); the server answers b"ok" once the shim is
    forked, or b"stale".
  - a command: b"C", a 4-byte little-endian length, then a marshal record
    {argv, env (bytes to bytes), cwd, umask}, with fds 0, 1 and 2 (SCM_RIGHTS).  The
    answer is b"P" and the command process's pid (4 bytes), later b"X" and its exit
    code (1 byte); anything else before b"P" means the command did not run.

The front's side (spawn_shim, and what bin/dunnage does in its own minimal copy) is
client.py; the server is server.py.  The server runs commands with the entry point
of the front that started it (register_front: the command line's is
dunnage.tui.cli's main), named as data: nothing of core imports a front.
"""
from .client import fork_detached, register_front, spawn_shim, start_for_next
from .common import LOCK, SOCK, code_stamp
from .server import LINGER, NAME, SPARE_NAME

__all__ = ["LINGER", "LOCK", "NAME", "SOCK", "SPARE_NAME", "code_stamp", "fork_detached", "register_front",
           "spawn_shim", "start_for_next"]
