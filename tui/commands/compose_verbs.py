"""The compose verbs behind tui/commands/compose.py's parser (imported when a compose command
runs, not when the parser is built: the model pulls in YAML)."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import threading
import time
from typing import Optional

from dunnage.compose.model import Options, Project, check_project_name, load
from dunnage.compose.project import (FILES, NUMBER, PROJECT, SERVICE, WORKDIR, Compose, command_text, image_of,
                                     labels_of, log_name, wait_condition)
from dunnage.core import Engine
from dunnage.core.errors import Conflict, DunnageError, InvalidParameter, NotFound
from dunnage.tui.gotemplate import Struct
from dunnage.tui.commands.output import confirm, render

COLOURS = ("36", "33", "32", "35", "34", "96", "93", "92", "95", "94")


def _project(a, requested: Optional[list[str]] = None, fileless: bool = False):
    """The model; with FILELESS and -p NAME but no file to be found, the project NAME as its
    containers' labels have it (compose -p NAME down / ps / stop, as docker compose allows)."""
    opts = Options(files=list(a.file or []), project_name=a.project_name, profiles=list(a.profile or []),
                   env_files=list(a.env_file or []), project_directory=a.project_directory)
    try:
        return load(opts, requested)
    except NotFound as ex:
        if not (fileless and a.project_name and not a.file and str(ex).startswith("no configuration file")):
            raise
    return Project(check_project_name(a.project_name), os.getcwd(), [], {}, {}, {}, {})


def _compose(e: Engine, a, requested: Optional[list[str]] = None, fileless: bool = False) -> Compose:
    return Compose(e, _project(a, requested, fileless))


def _scale(items) -> dict:
    out = {}
    for item in items or []:
        s, sep, n = item.partition("=")
        if not sep or not n.isdigit():
            raise InvalidParameter(f'invalid --scale "{item}" (SERVICE=NUM)')
        out[s] = int(n)
    return out


def _timeout(a) -> Optional[float]:
    t = getattr(a, "timeout", None)
    return None if t is None else float(t)


# ------------------------------------------------------------------ logs
class LogPrinter:
    """Containers' output, each line after its container's name without the project's
    ("web-1  | "), the names padded to one width and coloured on a terminal."""

    def __init__(self, names: list[str], colour: bool, timestamps: bool = False):
        self.width = max((len(n) for n in names), default=0)
        self.colour = colour
        self.timestamps = timestamps
        self.lock = threading.Lock()
        self.colours = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}
        self.partial: dict = {}

    def prefix(self, name: str) -> str:
        text = f"{name.ljust(self.width)}  | "
        if self.colour:
            return f"\033[{self.colours.get(name, COLOURS[0])}m{text}\033[0m"
        return text

    def line(self, name: str, t: int, data: bytes) -> None:
        ts = ""
        if self.timestamps:
            ts = (dt.datetime.fromtimestamp(t // 10**9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                  + f".{t % 10**9:09d}Z ")
        text = self.prefix(name) + ts + data.decode("utf-8", "replace").rstrip("\n") + "\n"
        with self.lock:
            sys.stdout.write(text)
            sys.stdout.flush()

    def feed(self, name: str, t: int, stream: str, data: bytes) -> None:
        """A piece of output: whole lines go out, the rest waits for its newline."""
        key = (name, stream)
        buf = self.partial.get(key, b"") + data
        *lines, rest = buf.split(b"\n")
        for ln in lines:
            self.line(name, t, ln)
        self.partial[key] = rest

    def flush(self, name: str) -> None:
        for key in [k for k in self.partial if k[0] == name]:
            if self.partial[key]:
                self.line(name, time.time_ns(), self.partial[key])
            del self.partial[key]

    def message(self, text: str) -> None:
        with self.lock:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()


def _follow(e: Engine, printer: LogPrinter, c, stop: threading.Event, on_end=None, since_records: int = 0,
            since_ns: int = 0) -> None:
    try:
        n = 0
        for t, stream, data in e.logs(c.id, follow=True, stop=stop.is_set):
            n += 1
            if n > since_records and t >= since_ns:
                printer.feed(log_name(c), t, stream, data)
    except DunnageError:
        pass
    printer.flush(log_name(c))
    if on_end:
        on_end(c)


def cmd_logs(e: Engine, a) -> int:
    from dunnage.core.logs import tail_lines
    comp = _compose(e, a, fileless=True)
    cs = comp.containers(a.services or None)
    for s in a.services or []:
        if s not in comp.p.services:
            raise NotFound(f"no such service: {s}", 1)
    printer = LogPrinter([log_name(c) for c in cs], _colour(a), a.timestamps)
    tail = None
    if a.tail not in (None, "all"):
        try:
            tail = int(a.tail)
        except ValueError:
            raise InvalidParameter(f'invalid value for --tail: "{a.tail}"', 1) from None
    records, counts = [], {}
    for c in cs:
        if tail is not None:
            lines, counts[c.id] = tail_lines(str(c.log_path), tail)
            records += [(t, c, s, d) for t, s, d in lines]
        else:
            got = list(e.logs(c.id))
            counts[c.id] = len(got)
            records += [(t, c, s, d) for t, s, d in got]
    records.sort(key=lambda r: r[0])
    for t, c, s, d in records:
        printer.feed(log_name(c), t, s, d)
    for c in cs:
        printer.flush(log_name(c))
    if not a.follow:
        return 0
    stop = threading.Event()
    threads = [threading.Thread(target=_follow, args=(e, printer, c, stop, None, counts[c.id]), daemon=True)
               for c in cs]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        return 130
    return 0


def _colour(a) -> bool:
    return not getattr(a, "no_color", False) and os.isatty(1) and not os.environ.get("NO_COLOR")


# ------------------------------------------------------------------ up, down, create
def cmd_up(e: Engine, a) -> int:
    a.detach = a.detach or a.wait  # as compose: --wait implies --detach
    if a.detach and a.abort_on_container_exit:
        raise InvalidParameter("--abort-on-container-exit and --detach are incompatible")
    if a.force_recreate and a.no_recreate:
        raise InvalidParameter("--force-recreate and --no-recreate are incompatible")
    if a.build and a.no_build:
        raise InvalidParameter("--build and --no-build are incompatible")
    comp = _compose(e, a, a.services)
    t0 = time.time_ns()
    cs = comp.up(a.services, no_deps=a.no_deps, force_recreate=a.force_recreate, no_recreate=a.no_recreate,
                 remove_orphans=a.remove_orphans, scale=_scale(a.scale), build=_build_flag(a))
    if a.detach:
        if a.wait:
            end = None if a.wait_timeout is None else time.monotonic() + a.wait_timeout
            for c in cs:
                hc = (e.container(c.id).config["Config"].get("Healthcheck") or {}).get("Test") or ["NONE"]
                cond = "running" if hc[:1] == ["NONE"] else "service_healthy"
                left = None if end is None else max(0.0, end - time.monotonic())
                wait_condition(e, c, cond, left)
                comp.say(f" Container {c.name}  {'Healthy' if cond == 'service_healthy' else 'Running'}")
        return 0
    return _attach(e, comp, cs, a.abort_on_container_exit, _colour(a), t0)


def _attach(e: Engine, comp: Compose, cs: list, abort: bool, colour: bool, since_ns: int) -> int:
    """up without -d: every container's output until they have all exited (ABORT: until one
    has, then the others are stopped); ctrl-c stops them all."""
    printer = LogPrinter([log_name(c) for c in cs], colour)
    printer.message(f"Attaching to {', '.join(log_name(c) for c in cs)}")
    stop = threading.Event()
    ended: list = []
    cond = threading.Condition()

    def on_end(c):
        with cond:
            ended.append(c)
            cond.notify_all()
        try:
            if not stop.is_set():
                printer.message(f"{log_name(c)} exited with code {int(e.container(c.id).state.get('ExitCode') or 0)}")
        except DunnageError:
            pass
    threads = [threading.Thread(target=_follow, args=(e, printer, c, stop, on_end, 0, since_ns), daemon=True)
               for c in cs]
    for t in threads:
        t.start()
    code = 0
    interrupted = False
    try:
        with cond:
            while len(ended) < len(cs) and not (abort and ended):
                cond.wait(0.2)
    except KeyboardInterrupt:
        interrupted = True
    if abort and ended:
        code = int(e.container(ended[0].id).state.get("ExitCode") or 0)
        printer.message("Aborting on container exit...")
    elif interrupted:
        printer.message("Gracefully stopping... (press Ctrl+C again to force)")
    if abort or interrupted:
        stop.set()
        for c in cs:
            try:
                if e.container(c.id).status in ("running", "paused", "restarting"):
                    e.stop(c.id)
                    comp.say(f" Container {c.name}  Stopped")
            except DunnageError:
                pass
    stop.set()
    for t in threads:
        t.join(2)
    return 130 if interrupted and not abort else code


def cmd_create(e: Engine, a) -> int:
    if a.force_recreate and a.no_recreate:
        raise InvalidParameter("--force-recreate and --no-recreate are incompatible")
    comp = _compose(e, a, a.services)
    comp.up(a.services, force_recreate=a.force_recreate, no_recreate=a.no_recreate,
            remove_orphans=a.remove_orphans, scale=_scale(a.scale), start=False, build=_build_flag(a))
    return 0


def cmd_down(e: Engine, a) -> int:
    # -p NAME without -f: the project its containers' labels make, a file here or not, as
    # compose v2's projectOrName (with its services whatever their profiles)
    if a.project_name and not a.file:
        p = Project(check_project_name(a.project_name), os.getcwd(), [], {}, {}, {}, {})
    else:
        p = _project(a, fileless=True)
    Compose(e, p).down(volumes=a.volumes, remove_orphans=a.remove_orphans, timeout=_timeout(a), rmi=a.rmi)
    return 0


# ------------------------------------------------------------------ the container verbs
def cmd_start(e: Engine, a) -> int:
    comp = _compose(e, a)
    order = comp.p.service_order(a.services or None, with_deps=False)
    if not comp.containers(order):
        raise NotFound("service has no container to start" if a.services else "no containers to start", 1)
    for s in order:
        comp.start_service(s, comp.containers([s]))
    return 0


def cmd_stop(e: Engine, a) -> int:
    return _compose(e, a, a.services, fileless=True).stop(a.services, _timeout(a))


def cmd_restart(e: Engine, a) -> int:
    return _compose(e, a, a.services, fileless=True).restart(a.services, _timeout(a))


def cmd_kill(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    return comp.each(a.services, "Killing", lambda c: e.kill(c.id, a.signal), True, "Killed")


def cmd_pause(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    return comp.each(a.services, "Pausing", lambda c: e.pause(c.id), True, "Paused")


def cmd_unpause(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    return comp.each(a.services, "Unpausing", lambda c: e.unpause(c.id), True, "Unpaused")


def cmd_rm(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    if a.stop:
        comp.stop(a.services)
    cs = [c for c in comp.containers(a.services or None) if e.container(c.id).status not in
          ("running", "paused", "restarting")]
    if not cs:
        comp.say("No stopped containers")
        return 0
    if not a.force:
        print(f"Going to remove {', '.join(c.name for c in cs)}")
        if not confirm("Are you sure?"):
            return 0
    for c in cs:
        comp.say(f" Container {c.name}  Removing")
        e.remove(c.id, force=True, volumes=a.volumes)
        comp.say(f" Container {c.name}  Removed")
    return 0


def _one(comp: Compose, service: str, index: int):
    if service not in comp.p.services:
        raise NotFound(f"no such service: {service}", 1)
    for c in comp.containers([service]):
        if int(labels_of(c).get(NUMBER) or 0) == index:
            return c
    raise NotFound(f'service "{service}" is not running', 1)


def cmd_exec(e: Engine, a) -> int:
    if not a.command:
        raise InvalidParameter("compose exec: a command is required (SERVICE COMMAND [ARGS...])")
    comp = _compose(e, a)
    c = _one(comp, a.service, a.index)
    if e.container(c.id).status != "running":
        raise Conflict(f"container {c.name} is not running", 1)
    tty = not a.no_tty and os.isatty(0) and os.isatty(1)
    return e.exec(c.id, a.command, tty=tty, interactive=not a.detach, detach=a.detach, user=a.user,
                  workdir=a.workdir, env=a.env)


def cmd_run(e: Engine, a) -> int:
    comp = _compose(e, a, [a.service])
    p = comp.p
    if a.service not in p.services:
        raise NotFound(f"no such service: {a.service}", 1)
    deps = [s for s in p.service_order([a.service]) if s != a.service]
    comp.preflight([a.service])
    if deps and not a.no_deps:
        comp.up(deps)
    comp.ensure_networks([a.service])
    comp.ensure_volumes([a.service])
    comp.ensure_images([a.service])
    if not a.no_deps:
        comp.wait_dependencies(a.service)
    tty = not a.no_tty and os.isatty(0) and os.isatty(1)
    interactive = not a.detach and _streamable_stdin()
    name = a.name or f"{p.name}-{a.service}-run-{os.urandom(6).hex()}"

    def tweak(spec):
        if a.command:
            spec.config.cmd = list(a.command)
        if a.entrypoint is not None:
            import shlex
            spec.config.entrypoint = shlex.split(a.entrypoint)
            if not a.command:
                spec.config.cmd = None
        spec.config.env = list(spec.config.env) + list(a.env or [])
        if a.user:
            spec.config.user = a.user
        if a.workdir:
            spec.config.working_dir = a.workdir
        spec.config.tty = tty
        spec.config.open_stdin = interactive
        spec.config.attach = not a.detach
        spec.detach = a.detach
        spec.host.auto_remove = a.rm
        spec.host.restart_policy.name, spec.host.restart_policy.maximum_retry_count = "no", 0
        if not a.service_ports:
            spec.host.port_bindings = []
        for lab in a.label or []:
            k, _, v = lab.partition("=")
            spec.config.labels[k] = v
    c = comp.create_one(a.service, 1, oneoff=True, name=name, tweak=tweak)
    try:
        comp.inject_files(a.service, c)
    except DunnageError:
        e.remove(c.id, force=True)
        raise
    sock = []

    def attach_now():
        from dunnage.core.attach import address, connect
        sock.append(connect(address(e.store, c.id)))
    try:
        e.start(c.id, on_listening=attach_now if interactive or tty else None)
    except DunnageError:
        if a.rm:
            e.remove(c.id, force=True)
        raise
    if a.detach:
        print(c.name)
        return 0
    code = None
    if sock:
        from dunnage.core.attach import run_client
        how, code = run_client(sock[0], interactive, tty)
        sock[0].close()
        if how == "detached":
            return 0
    else:
        def forward(sig, _frame):
            try:
                e.kill(c.id, sig)
            except DunnageError:
                pass
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, forward)
        for _, stream, data in e.logs(c.id, follow=True):
            out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
            out.write(data)
            out.flush()
    code = e.wait(c.id) if code is None else code
    if a.rm:
        try:
            e.remove(c.id, force=True)
        except NotFound:
            pass
    return code


def _streamable_stdin() -> bool:
    """Whether standard input can be relayed to a container (a terminal, a pipe, a socket:
    what epoll takes; not a file or /dev/null, which run without -i reads nothing of)."""
    import stat
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return os.isatty(0) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


# ------------------------------------------------------------------ listings
def _ps_rows(e: Engine, cs: list) -> list[dict]:
    from dunnage.tui.commands.ps import ps_rows
    byid = {r["ID"]: r for r in ps_rows(e, True, no_trunc=True)}
    rows = []
    for c in cs:
        r = byid.get(c.id)
        if r is None:
            continue
        lab = labels_of(c)
        c = e.container(c.id)
        rows.append({**r, "Name": c.name, "Service": lab.get(SERVICE, ""), "Project": lab.get(PROJECT, ""),
                     "Command": json.dumps(command_text(c)), "ExitCode": int(c.state.get("ExitCode") or 0),
                     "Health": (c.state.get("Health") or {}).get("Status", ""),
                     "Publishers": publishers(e.published_ports(c))})
    return rows


def publishers(ports: dict) -> list[dict]:
    """compose v2's Publishers of a container (its containerPublishers): one {URL, TargetPort,
    PublishedPort, Protocol} per entry of the container list's Ports (a binding, or an
    exposed port with none: URL "", PublishedPort 0), by target port."""
    out = []
    for key, binds in ports.items():
        port, _, proto = key.partition("/")
        for b in binds or [{}]:
            out.append(Struct({"URL": b.get("HostIp") or "", "TargetPort": int(port),
                               "PublishedPort": int(b.get("HostPort") or 0), "Protocol": proto or "tcp"},
                              "struct api.PortPublisher"))  # ({{.Publishers}} prints as Go prints it)
    return sorted(out, key=lambda p: p["TargetPort"])


def cmd_ps(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    cs = comp.containers(a.services or None, all_=a.all, oneoff=None)
    if a.status:
        cs = [c for c in cs if c.status in a.status]
    rows = _ps_rows(e, cs)
    if a.quiet:
        for r in rows:
            print(r["ID"])
        return 0
    if a.services_only:
        for s in sorted({r["Service"] for r in rows}):
            print(s)
        return 0
    render(a.format, rows, [("NAME", "Name"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("SERVICE", "Service"),
                            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports")])
    return 0


def ls_rows(e: Engine, all_: bool) -> list[dict]:
    """The projects of the root, from their containers' labels, as compose v2's ls makes them
    from the container list (without ALL_ the running, paused and restarting containers only,
    so a project's status counts those alone): the states counted, the config files of all
    its containers, each once."""
    projects: dict = {}
    for c in e.containers(all_=all_):
        lab = labels_of(c)
        name = lab.get(PROJECT)
        if not name:
            continue
        p = projects.setdefault(name, {"states": {}, "files": [], "dir": lab.get(WORKDIR, "")})
        p["states"][c.status] = p["states"].get(c.status, 0) + 1
        p["files"] += [f for f in (lab.get(FILES) or "").split(",") if f not in p["files"]]
    rows = []
    for name in sorted(projects):
        p = projects[name]
        rows.append({"Name": name, "Status": ", ".join(f"{s}({n})" for s, n in sorted(p["states"].items())),
                     "ConfigFiles": ",".join(p["files"]), "WorkingDir": p["dir"]})
    return rows


def cmd_ls(e: Engine, a) -> int:
    rows = ls_rows(e, a.all)
    if a.filter:
        for f in a.filter:
            k, _, v = f.partition("=")
            if k != "name":
                raise InvalidParameter(f'invalid filter "{f}" (name=NAME)')
            rows = [r for r in rows if v in r["Name"]]
    if a.format and a.format.lower() == "json" and not a.quiet:
        # compose v2's formatter.Print: a list is one JSON array (its stackView's three fields),
        # where docker's own --format json writes an object a line
        from dunnage.tui.gotemplate import go_json
        print(go_json([{"Name": r["Name"], "Status": r["Status"], "ConfigFiles": r["ConfigFiles"]} for r in rows]))
        return 0
    render(None if a.quiet else a.format, rows, [("NAME", "Name"), ("STATUS", "Status"),
                                                  ("CONFIG FILES", "ConfigFiles")], "Name", a.quiet)  # (-q wins in compose's)
    return 0


def cmd_images(e: Engine, a) -> int:
    from dunnage.tui.rows import human_size
    comp = _compose(e, a, fileless=True)
    rows = []
    for c in comp.containers(a.services or None, oneoff=None):
        ref = c.config.get("ImageName") or ""
        repo, _, tag = ref.rpartition(":") if ":" in ref.rsplit("/", 1)[-1] else (ref, "", "latest")
        try:
            img = e.image(c.config["Image"])
            iid, size = img.short_id, human_size(img.size)
        except DunnageError:
            iid, size = c.config["Image"][7:19], ""
        rows.append({"Container": c.name, "Repository": repo, "Tag": tag, "ID": iid, "Size": size})
    if a.quiet:
        for i in sorted({r["ID"] for r in rows}):
            print(i)
        return 0
    render(a.format, rows, [("CONTAINER", "Container"), ("REPOSITORY", "Repository"), ("TAG", "Tag"),
                            ("IMAGE ID", "ID"), ("SIZE", "Size")])
    return 0


def cmd_top(e: Engine, a) -> int:
    comp = _compose(e, a, fileless=True)
    first = True
    for c in comp.containers(a.services or None, all_=False):
        titles, rows = e.top(c.id)
        if not first:
            print()
        first = False
        print(c.name)
        render(None, [dict(zip(titles, r)) for r in rows], [(t, t) for t in titles])
    return 0


def cmd_port(e: Engine, a) -> int:
    comp = _compose(e, a)
    c = _one(comp, a.service, a.index)
    port, _, proto = a.private_port.partition("/")
    want = f"{port}/{proto or a.protocol}"
    for k, ip, hp in e.ports(c.id):
        if k == want:
            print(f"{ip or '0.0.0.0'}:{hp}")
            return 0
    raise NotFound(f"no port {want} for container {c.name}", 1)


def cmd_config(e: Engine, a) -> int:
    p = _project(a)
    if a.quiet:
        return 0
    if a.services_only:
        print("\n".join(p.service_order()))
        return 0
    if a.volumes_only:
        print("\n".join(sorted(p.volumes)) if p.volumes else "", end="\n" if p.volumes else "")
        return 0
    if a.networks_only:
        print("\n".join(sorted(p.networks)))
        return 0
    if a.images:
        print("\n".join(image_of(p, s) for s in p.service_order()))
        return 0
    if a.profiles:
        print("\n".join(sorted({x for s in {**p.services, **p.disabled}.values() for x in s.get("profiles") or []})))
        return 0
    text = json.dumps(p.to_dict(), indent=2) + "\n" if a.format == "json" else p.yaml()
    if a.output:
        with open(a.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_pull(e: Engine, a) -> int:
    comp = _compose(e, a, a.services)
    rc = 0
    for s in comp.p.service_order(a.services or None, with_deps=False):
        svc = comp.p.services[s]
        if svc.get("build") is not None and not svc.get("image"):
            continue
        image = image_of(comp.p, s)
        if not a.quiet:  # (-q: no progress, as compose's)
            comp.say(f" {s} Pulling")
        try:
            e.pull(image)
            if not a.quiet:
                comp.say(f" {s} Pulled")
        except DunnageError as ex:
            if not a.ignore_pull_failures:
                raise
            comp.say(f" {s} Warning {ex}")
            rc = 0
    return rc


def cmd_push(e: Engine, a) -> int:
    comp = _compose(e, a)
    for s in comp.p.service_order(a.services or None, with_deps=False):
        svc = comp.p.services[s]
        if svc.get("build") is None or not svc.get("image"):
            continue
        comp.say(f" {s} Pushing")
        e.push(svc["image"])
        comp.say(f" {s} Pushed")
    return 0


def _build_flag(a) -> Optional[bool]:
    """--build: True, --no-build: False, neither: None (build what is missing)."""
    return True if a.build else False if a.no_build else None


def cmd_build(e: Engine, a) -> int:
    comp = _compose(e, a, a.services)
    args = {}
    for item in a.build_arg or []:
        k, sep, v = item.partition("=")
        if sep:
            args[k] = v
        elif os.environ.get(k) is not None:
            args[k] = os.environ[k]
    for s in comp.p.service_order(a.services or None, with_deps=False):
        if comp.p.services[s].get("build") is not None:
            comp.build(s, no_cache=a.no_cache, pull=a.pull, quiet=a.quiet, args=args)
    return 0


def cmd_events(e: Engine, a) -> int:
    comp = _compose(e, a)
    mine = {c.id: c for c in comp.containers(a.services or None, oneoff=None)}
    try:
        for ev in e.follow_events(time.time_ns()):
            if ev.get("Type") != "container":
                continue
            cid = ev.get("id", "")
            if cid not in mine:
                try:
                    c = e.container(cid)
                except DunnageError:
                    continue
                lab = labels_of(c)
                if lab.get(PROJECT) != comp.p.name or (a.services and lab.get(SERVICE) not in a.services):
                    continue
                mine[cid] = c
            c = mine[cid]
            attrs = dict(ev.get("Attributes") or {})
            t = dt.datetime.fromtimestamp(ev["time_ns"] / 1e9, dt.timezone.utc)
            if a.json:
                print(json.dumps({"time": t.isoformat(), "type": "container", "action": ev.get("Action"),
                                  "id": cid, "service": labels_of(c).get(SERVICE), "attributes": attrs}),
                      flush=True)
            else:
                text = ", ".join(f"{k}={v}" for k, v in sorted(attrs.items()))
                print(f"{t.isoformat()} container {ev.get('Action')} {cid} ({text})", flush=True)
    except KeyboardInterrupt:
        return 130
    return 0
