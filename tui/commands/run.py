"""Run and create: a new container from docker's run flags (one ContainerSpec, core/spec.py)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Optional

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter
from dunnage.tui.commands.grammar import CONTENT_TRUST, true_only


def run_flags(p: argparse.ArgumentParser, run: bool) -> None:
    if run:
        p.add_argument("-d", "--detach", action="store_true", help="run in the background, print the id")
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
    p.add_argument("--pull", default="missing", help="pull the image: missing (if not here), always, never")
    p.add_argument("--platform", help="os/arch[/variant] to pull (a multi-platform image's)")
    true_only(p, "--disable-content-trust", CONTENT_TRUST, help="taken: no image is verified by signature")
    p.add_argument("-q", "--quiet", action="store_true", help="no pull output")
    p.add_argument("--restart", help="no, always, unless-stopped, on-failure[:N]")
    p.add_argument("--pid", help="host: share the host's pid namespace")
    p.add_argument("--ipc", help="host or private")
    p.add_argument("--uts", help="host: share the host's host name")
    p.add_argument("--network", "--net", help="bridge (the default), a network's name, none, host, container:NAME")
    p.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]HOST:CONTAINER[/PROTO]",
                   help="publish a container's port on the host")
    p.add_argument("-P", "--publish-all", action="store_true", help="publish every exposed port on a free host port")
    p.add_argument("--expose", action="append", default=[], help="expose a port (or range)")
    p.add_argument("--ip", help="the container's IPv4 address on a user-defined network")
    p.add_argument("--ip6", help="the container's IPv6 address on a dual-stack user-defined network")
    p.add_argument("--network-alias", "--net-alias", action="append", default=[], help="another name on the network")
    p.add_argument("--dns", action="append", default=[], help="a DNS server")
    p.add_argument("--dns-search", action="append", default=[], help="a DNS search domain")
    p.add_argument("--dns-option", action="append", default=[], help="a resolver option")
    p.add_argument("--add-host", action="append", default=[], metavar="NAME:IP", help="a line of /etc/hosts")
    p.add_argument("-v", "--volume", action="append", default=[], metavar="[SRC:]DST[:ro]",
                   help="a named volume, a host directory (absolute path) or an anonymous volume")
    p.add_argument("--mount", action="append", default=[], metavar="type=bind|volume|tmpfs,...")
    p.add_argument("--init", action="store_true", help="run an init (tini) as PID 1: forwards signals, reaps zombies")
    p.add_argument("--tmpfs", action="append", default=[], metavar="DST[:OPTS]", help="a tmpfs mount")
    p.add_argument("--volumes-from", action="append", default=[], metavar="CONTAINER[:ro|rw]")
    p.add_argument("--log-opt", action="append", default=[], help="max-size=10m, max-file=3: rotate the log")
    p.add_argument("--health-cmd", help="command run in the container to check its health")
    p.add_argument("--health-interval", help="time between checks (30s)")
    p.add_argument("--health-timeout", help="time a check may take (30s)")
    p.add_argument("--health-retries", type=int, help="failures in a row that make it unhealthy (3)")
    p.add_argument("--health-start-period", help="time during which failures do not count (0s)")
    p.add_argument("--no-healthcheck", action="store_true", help="disable the image's HEALTHCHECK")
    p.add_argument("--name", help="assign a name")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V", help="set an environment variable")
    p.add_argument("-m", "--memory", help="memory limit (e.g. 64m)")
    p.add_argument("--cpus", help="number of CPUs (e.g. 0.5)")
    p.add_argument("--pids-limit", type=int, help="maximum number of processes")
    p.add_argument("--memory-swap", help="memory plus swap (e.g. 128m; -1: unlimited swap)")
    p.add_argument("--memory-reservation", help="memory soft limit, reclaimed down to under pressure (e.g. 32m)")
    p.add_argument("-c", "--cpu-shares", type=int, help="relative CPU weight (1024 is the default)")
    p.add_argument("--cpuset-cpus", help="CPUs the container may run on (0-1, 0,2)")
    p.add_argument("--blkio-weight", type=int, help="relative block I/O weight (10-1000)")
    p.add_argument("--device-read-bps", action="append", default=[], metavar="DEVICE:RATE",
                   help="limit reads from a block device (e.g. /dev/vda:1mb)")
    p.add_argument("--device-write-bps", action="append", default=[], metavar="DEVICE:RATE",
                   help="limit writes to a block device")
    p.add_argument("-h", "--hostname", help="container host name")
    p.add_argument("-w", "--workdir", help="working directory inside the container")
    p.add_argument("--entrypoint", help="override the image's entrypoint")
    p.add_argument("-u", "--user", help="user[:group] (names from the image's /etc/passwd, or numbers)")
    p.add_argument("--group-add", action="append", default=[], help="an additional group")
    p.add_argument("--read-only", action="store_true", help="mount the container's root read-only")
    p.add_argument("--ulimit", action="append", default=[], help="name=soft[:hard], within the host's limits")
    p.add_argument("-l", "--label", action="append", default=[], help="key=value")
    p.add_argument("--env-file", action="append", default=[], help="read KEY=VALUE lines from a file")
    p.add_argument("--stop-signal", help="signal that stops the container (SIGTERM)")
    p.add_argument("--stop-timeout", type=int, help="seconds before SIGKILL on stop (10)")
    p.add_argument("--cap-add", action="append", default=[], help="add a Linux capability (or ALL)")
    p.add_argument("--cap-drop", action="append", default=[], help="drop a Linux capability (or ALL)")
    p.add_argument("--privileged", action="store_true", help="all capabilities, no masked paths, /sys writable")
    p.add_argument("--security-opt", action="append", default=[], help="no-new-privileges, seccomp=unconfined|FILE")
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("image")
    p.add_argument("command", nargs=argparse.REMAINDER)


def env_files(paths: list[str]) -> list[str]:
    """docker's --env-file: VAR=VALUE lines taken as written (no quotes, no expansion) after
    their leading white space; VAR alone is VAR from this environment; # comments."""
    out = []
    for p in paths:
        try:
            with open(p, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except OSError as ex:
            raise InvalidParameter(f"open {p}: {ex.strerror.lower()}") from None
        except UnicodeDecodeError:
            raise InvalidParameter(f"env file {p} contains invalid utf8 bytes") from None
        for line in lines:
            line = line.lstrip()
            if not line or line.startswith("#"):
                continue
            var, _, _ = line.partition("=")
            if not var:
                raise InvalidParameter(f"poorly formatted environment: no variable name on line '{line}'")
            if any(c in var for c in " \t\n\v\f\r"):
                raise InvalidParameter(f"poorly formatted environment: variable '{var}' contains whitespaces")
            out.append(line)
    return out


def spec_from_args(a, detach: bool, attach: Optional[bool] = None):
    """The create request run and create's flags make (core/spec.py checks it)."""
    from dunnage.core import ContainerSpec
    health = {"cmd": a.health_cmd, "interval": a.health_interval, "timeout": a.health_timeout,
              "retries": a.health_retries, "start_period": a.health_start_period}
    return ContainerSpec.from_flags(
        a.image, a.command, detach=detach, attach=attach, tty=a.tty, interactive=a.interactive, name=a.name,
        env=env_files(a.env_file) + a.env, read_only=a.read_only, ulimits=a.ulimit,
        restart=a.restart, no_healthcheck=a.no_healthcheck, log_opts=a.log_opt,
        pid_mode=a.pid, ipc_mode=a.ipc, uts_mode=a.uts, network=a.network,
        publish=a.publish, publish_all=a.publish_all, expose=a.expose, ip=a.ip, ip6=a.ip6,
        network_aliases=a.network_alias, dns=a.dns, dns_search=a.dns_search, dns_options=a.dns_option,
        add_hosts=a.add_host, init=a.init, memory_swap=a.memory_swap, memory_reservation=a.memory_reservation,
        cpu_shares=a.cpu_shares,
        cpuset_cpus=a.cpuset_cpus, blkio_weight=a.blkio_weight, device_read_bps=a.device_read_bps,
        device_write_bps=a.device_write_bps, volumes=a.volume, mounts=a.mount, tmpfs=a.tmpfs,
        volumes_from=a.volumes_from,
        health=health if any(v is not None for v in health.values()) else None,
        labels=a.label, stop_signal=a.stop_signal, stop_timeout=a.stop_timeout, memory=a.memory, cpus=a.cpus,
        pids_limit=a.pids_limit, hostname=a.hostname, auto_remove=a.rm, workdir=a.workdir,
        entrypoint=a.entrypoint, cap_add=a.cap_add, cap_drop=a.cap_drop, privileged=a.privileged,
        security_opt=a.security_opt, user=a.user, group_add=a.group_add)


PULL = ("always", "missing", "never")


def ensure_image(e: Engine, a) -> None:
    """docker run/create's --pull (on the command line's side, as docker's CLI): missing
    (the default) pulls an image that is not here, saying so on stderr; always pulls;
    never refuses what is not here.  The pull's progress goes to stderr (-q: nowhere)."""
    if a.pull not in PULL:
        raise InvalidParameter(f"invalid pull option: '{a.pull}': must be one of \"always\", \"missing\" or \"never\"")
    if a.pull != "always":
        try:
            e.image(a.image)
            return
        except EngineError:
            if a.pull == "never":
                raise
        from dunnage.core.images.registry import parse_reference
        try:
            r = parse_reference(a.image)
            shown = f"{r.familiar}:{r.tag}" if r.tag else a.image
        except EngineError:
            shown = a.image
        if not a.quiet:
            print(f"Unable to find image '{shown}' locally", file=sys.stderr, flush=True)
    say = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    img = e.pull(a.image, None, say, platform=a.platform)
    if not a.quiet:
        from dunnage.core.images.registry import parse_reference
        r = parse_reference(a.image)
        print(f"Status: Downloaded newer image for {r.familiar}:{r.tag}" if r.tag else
              f"Status: Downloaded {a.image}", file=sys.stderr, flush=True)
    del img


def print_warnings(c) -> None:
    for w in getattr(c, "warnings", ()):
        print(f"WARNING: {w}", file=sys.stderr, flush=True)


def cmd_create(e: Engine, a) -> int:
    spec = spec_from_args(a, detach=True, attach=True)  # (bad flags are refused before any pull)
    ensure_image(e, a)
    c = e.create_from(spec)
    print_warnings(c)
    print(c.id)
    return 0


def follow_output(e: Engine, cid: str) -> None:
    for _, stream, data in e.logs(cid, follow=True):
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        out.write(data)
        out.flush()


def cmd_run(e: Engine, a) -> int:
    if a.tty and a.interactive and not a.detach and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY", 1)
    spec = spec_from_args(a, detach=a.detach)  # (bad flags are refused before any pull)
    ensure_image(e, a)
    c = e.create_from(spec)
    print_warnings(c)
    sock = []

    def attach_now():
        from dunnage.core.attach import address, connect
        sock.append(connect(address(e.store, c.id)))

    try:
        e.start(c.id, on_listening=attach_now)
    except EngineError:
        if a.rm:
            e.remove(c.id, force=True)
        raise
    if a.detach:
        print(c.id)
        return 0
    if sock:
        # -i / -t: relay through the shim; ctrl-p ctrl-q detaches
        from dunnage.core.attach import run_client
        how, code = run_client(sock[0], a.interactive, a.tty)
        sock[0].close()
        if how == "detached":
            return 0
        code = e.wait(c.id) if code is None else code
        if a.rm:  # the shim removes it: return once it is gone
            import time as _t
            end = _t.monotonic() + 30
            while _t.monotonic() < end:
                try:
                    e.container(c.id)
                except EngineError:
                    break
                _t.sleep(0.02)
        return code

    # foreground: forward signals to the container, print its output, exit with its code
    def forward(sig, _frame):
        try:
            e.kill(c.id, sig)
        except EngineError:
            pass
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)
    follow_output(e, c.id)
    code = e.wait(c.id)
    if a.rm:
        e.remove(c.id, force=True)
    return code


def register(sub) -> None:
    p = sub.add_parser("run", help="run a command in a new container", add_help=False)
    run_flags(p, True)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("create", help="create a container", add_help=False)
    run_flags(p, False)
    p.set_defaults(fn=cmd_create)
