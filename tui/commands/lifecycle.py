"""The lifecycle verbs on existing containers: start, stop, kill, rm, pause, unpause, restart, rename, update, wait."""
from __future__ import annotations

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter
from dunnage.tui.commands.output import each, err
from dunnage.tui.commands.run import follow_output


def cmd_start(e: Engine, a) -> int:
    rc = 0
    if (a.attach or a.interactive) and len(a.containers) > 1:
        raise InvalidParameter("you cannot start and attach multiple containers at once", 1)
    for ref in a.containers:
        c0 = e.container(ref) if (a.attach or a.interactive) else None
        relay = c0 is not None and not c0.running() and (a.interactive or c0.config["Config"].get("Tty"))
        sock = []

        def attach_now(cid=c0.id if c0 else ""):
            from dunnage.core.attach import address, connect
            sock.append(connect(address(e.store, cid)))
        try:
            c = e.start(ref, on_listening=attach_now if relay else None, attach=bool(relay))
        except EngineError as ex:
            err(str(ex))
            rc = ex.code if len(a.containers) == 1 else 1
            continue
        if sock:
            # attached before the command ran: nothing of its output is missed, stdin goes in
            from dunnage.core.attach import run_client
            tty = bool(c.config["Config"].get("Tty"))
            how, code = run_client(sock[0], a.interactive and bool(c.config["Config"].get("OpenStdin")), tty)
            sock[0].close()
            return 0 if how == "detached" else (e.wait(c.id) if code is None else code)
        if a.attach or a.interactive:
            follow_output(e, c.id)
            return e.wait(c.id)
        print(ref)
    return rc


def cmd_stop(e: Engine, a) -> int:
    return each(a, a.containers, lambda r: e.stop(r, a.time))


def cmd_kill(e: Engine, a) -> int:
    return each(a, a.containers, lambda r: e.kill(r, a.signal))


def cmd_rm(e: Engine, a) -> int:
    return each(a, a.containers, lambda r: e.remove(r, a.force, a.volumes))


def cmd_pause(e: Engine, a) -> int:
    return each(a, a.containers, e.pause)


def cmd_unpause(e: Engine, a) -> int:
    return each(a, a.containers, e.unpause)


def cmd_restart(e: Engine, a) -> int:
    return each(a, a.containers, lambda r: e.restart(r, a.time))


def cmd_rename(e: Engine, a) -> int:
    e.rename(a.container, a.new_name)
    return 0


def cmd_update(e: Engine, a) -> int:
    return each(a, a.containers, lambda r: e.update(r, a.memory, a.cpus, a.pids_limit, a.memory_swap,
                                                       a.memory_reservation, a.restart))


def cmd_wait(e: Engine, a) -> int:
    rc = 0
    for ref in a.containers:
        try:
            print(e.wait(ref))
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def register(sub) -> None:
    p = sub.add_parser("start", help="start containers")
    p.add_argument("-a", "--attach", action="store_true", help="attach to the output (and signals)")
    p.add_argument("-i", "--interactive", action="store_true", help="attach the standard input")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_start)

    p = sub.add_parser("stop", help="stop containers")
    p.add_argument("-t", "--time", "--timeout", type=float, default=None, help="seconds before SIGKILL (10)")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_stop)

    p = sub.add_parser("kill", help="send a signal to containers")
    p.add_argument("-s", "--signal", default="KILL")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_kill)

    p = sub.add_parser("rm", help="remove containers")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("-v", "--volumes", action="store_true", help="remove the containers' anonymous volumes too")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_rm)

    for verb, fn, hlp in (("pause", cmd_pause, "freeze every process of containers"),
                          ("unpause", cmd_unpause, "thaw paused containers")):
        p = sub.add_parser(verb, help=hlp)
        p.add_argument("containers", nargs="+")
        p.set_defaults(fn=fn)

    p = sub.add_parser("restart", help="stop and start containers")
    p.add_argument("-t", "--time", "--timeout", type=float, default=None)
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_restart)

    p = sub.add_parser("rename", help="rename a container")
    p.add_argument("container")
    p.add_argument("new_name")
    p.set_defaults(fn=cmd_rename)

    p = sub.add_parser("update", help="change the limits of containers (live when running)")
    p.add_argument("-m", "--memory")
    p.add_argument("--memory-swap")
    p.add_argument("--memory-reservation", help="memory soft limit (e.g. 32m)")
    p.add_argument("--cpus")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("--restart", help="the restart policy: no, always, unless-stopped, on-failure[:N]")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_update)

    p = sub.add_parser("wait", help="wait for containers to stop, print exit codes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_wait)
