"""The command line: docker's grammar over dunnage.core.Engine.

`dunnage` with no verb opens the dashboard."""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import sys
from typing import Optional

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter, NotFound, System
from dunnage.core.units import bytes_decimal, human_duration, since
from dunnage.tui import commands, gotemplate
from dunnage.tui.rows import (ellipsis, go_quote, human_size, image_rows, info_text, ports_text, ps_mounts,
                               stats_row, status_text)

# argparse passes every help and error text through gettext, which looks for a
# translation catalogue on disk each time: 150 lookups and 11 ms of every
# command for texts that are English anyway
argparse._ = str
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural

PROG = "dunnage"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # docker: flag errors exit 125
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------- output helpers
def render(fmt: Optional[str], rows: list[dict], table: list[tuple[str, str]], quiet_key: Optional[str] = None,
           quiet: bool = False) -> None:
    """Print ROWS as docker's formatter does: the default table (TABLE: its header and
    field per column), or --format: `table [TEMPLATE]`, `json`, or a Go template run
    on each row (tui/gotemplate.py). Rows of a listing (TABLE given) are docker's
    typed contexts: a field they do not have is an error; other objects (inspect,
    info) are JSON maps, where it is <no value>. A template that does not parse or
    run is one error line, exit 125, with nothing printed."""
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if quiet and quiet_key:
        for r in public:
            print(r[quiet_key])
        return
    if not fmt:
        lines = ["\t".join(h for h, _ in table)]
        lines += ["\t".join(gotemplate.go_sprint(r.get(k, "")) for _, k in table) for r in public]
        sys.stdout.write(gotemplate.tabwrite("\n".join(lines) + "\n"))
        return
    if table:
        public = [_row_struct(r, p) for r, p in zip(rows, public)]
    try:
        text = gotemplate.format_rows(fmt, public, table)
    except gotemplate.TemplateError as ex:
        raise InvalidParameter(f"template parsing error: {ex}", 125) from None
    sys.stdout.write(text)


def _row_struct(row: dict, public: dict) -> gotemplate.Struct:
    """A listing's row as docker's context: its fields, and Label NAME when it has labels."""
    out = gotemplate.Struct(public, "row")
    labels = row.get("_labels")
    if labels is not None:
        out["Label"] = lambda name: labels.get(name, "")
    return out


def err(msg: str) -> None:
    one_line = "; ".join(part.strip() for part in str(msg).splitlines() if part.strip())
    print(f"{PROG}: Error: {one_line}", file=sys.stderr)


# ---------------------------------------------------------------- verbs
def _name_values(k: str, v: str) -> list[tuple[str, str]]:
    """A Dockerfile ENV or LABEL: NAME=VALUE pairs, quoted as a shell quotes, or the
    old NAME VALUE form (one pair, the rest of the line its value)."""
    import shlex
    try:
        words = shlex.split(v)
    except ValueError as ex:
        raise InvalidParameter(f"{k} {v}: {ex}") from None
    if words and "=" in words[0]:
        pairs = [tuple(w.split("=", 1)) for w in words]
        if any("=" not in w or not w.split("=", 1)[0] for w in words):
            raise InvalidParameter(f"{k} {v}: NAME=VALUE pairs expected")
        return pairs
    name, _, value = v.strip().partition(" ")
    if not name or not value.strip():
        raise InvalidParameter(f"{k} must have two arguments")
    return [(name, value.strip())]


def parse_changes(items) -> dict:
    """Dockerfile instructions given with -c/--change."""
    changes: dict = {}
    for ch in items or []:
        k, _, v = ch.partition(" ")
        if v.strip().startswith("["):
            try:
                json.loads(v)
            except ValueError:
                raise InvalidParameter(f"invalid JSON in change: {ch}") from None
        if k.upper() == "CMD":
            changes["Cmd"] = json.loads(v) if v.strip().startswith("[") else ["/bin/sh", "-c", v]
        elif k.upper() == "ENTRYPOINT":
            changes["Entrypoint"] = json.loads(v) if v.strip().startswith("[") else ["/bin/sh", "-c", v]
        elif k.upper() == "ENV":
            changes.setdefault("Env", []).extend(f"{n}={x}" for n, x in _name_values("ENV", v))
        elif k.upper() == "WORKDIR":
            changes["WorkingDir"] = v
        elif k.upper() == "USER":
            changes["User"] = v
        elif k.upper() == "LABEL":
            changes.setdefault("Labels", {}).update(_name_values("LABEL", v))
        elif k.upper() == "STOPSIGNAL":
            changes["StopSignal"] = v
        elif k.upper() in ("VOLUME", "EXPOSE"):
            items = json.loads(v) if v.strip().startswith("[") else v.split()
            if k.upper() == "EXPOSE":
                items = [x if "/" in x else x + "/tcp" for x in items]
            changes.setdefault("Volumes" if k.upper() == "VOLUME" else "ExposedPorts", {}).update(
                {x: {} for x in items})
        else:
            raise InvalidParameter(f"{k} is not a valid change command")
    return changes


def cmd_import(e: Engine, a) -> int:
    changes = parse_changes(a.change)
    if a.file == "-":
        img = e.import_image(sys.stdin.buffer, a.reference, changes)
    else:
        try:
            f = open(a.file, "rb")
        except OSError as ex:
            raise System(f"{a.file}: {ex.strerror}") from None
        with f:
            img = e.import_image(f, a.reference, changes)
    print(img.id)
    return 0


def _tls(a) -> Optional[bool]:
    if a.tls_verify is None:
        return None
    return a.tls_verify.lower() not in ("false", "0", "no")


def cmd_pull(e: Engine, a) -> int:
    if a.quiet or not sys.stdout.isatty():
        say = (lambda s: None) if a.quiet else (lambda s: print(s, flush=True))
        img = e.pull(a.reference, _tls(a), say, platform=a.platform)
    else:
        img = _pull_with_bars(e, a.reference, _tls(a), a.platform)
    if a.quiet:
        print(img.id)
    else:
        from dunnage.core.images.registry import parse_reference
        r = parse_reference(a.reference)
        print(f"Status: Downloaded newer image for {r.familiar}:{r.tag}" if r.tag else f"Status: Downloaded {a.reference}")
    return 0


def _pull_with_bars(e: Engine, ref: str, tls, platform=None):
    """On a terminal: a bar per layer with bytes and rate (rich's progress display)."""
    import threading
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
    lock = threading.Lock()
    tasks: dict = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  transient=False) as bars:
        def progress(layer: str, done: int, total: int) -> None:
            with lock:
                if layer not in tasks:
                    tasks[layer] = bars.add_task(layer, total=total or None)
                bars.update(tasks[layer], completed=done, total=total or None)
        return e.pull(ref, tls, lambda s: bars.console.print(s), progress, platform=platform)


def cmd_commit(e: Engine, a) -> int:
    img = e.commit(a.container, a.reference, parse_changes(a.change), a.message or "", a.author or "",
                   pause=a.pause and not a.no_pause)
    print(img.id)
    return 0


def _archive_output(a) -> dict:
    """Where save and export write: -o FILE, or standard output unless it is a terminal."""
    if a.output is None and os.isatty(1):
        raise InvalidParameter("cowardly refusing to save to a terminal (use -o FILE or redirect)")
    return {"path": a.output, "stream": None if a.output else sys.stdout.buffer}


def cmd_export(e: Engine, a) -> int:
    e.export(a.container, **_archive_output(a))
    return 0


def cmd_cp(e: Engine, a) -> int:
    def split(x):
        if ":" in x and not x.startswith(("/", ".")):
            c, _, p = x.partition(":")
            return c, p
        return None, x
    sc, sp = split(a.src)
    dc, dp = split(a.dest)
    if (sc is None) == (dc is None):
        raise InvalidParameter("copying between containers, or between two host paths, is not supported: "
                          "one side must be CONTAINER:PATH", 1)
    if sc is not None:
        e.copy_from(sc, sp, dp)
    else:
        e.copy_to(dc, sp, dp)
    return 0


def cmd_tag(e: Engine, a) -> int:
    e.tag_image(a.source, a.target)
    return 0


def cmd_image(e: Engine, a) -> int:
    """image ls|rm|inspect|history|prune|tag|pull|push|load|save|import: the same verbs, grouped."""
    if a.sub == "prune":
        lines, freed = e.prune("images", a.all or bool({"-a", "--all"} & set(a.args)))
        _print_pruned("Deleted Images:", [_prune_line(ln) for ln in lines])
        print(f"Total reclaimed space: {human_size(freed)}")
        return 0
    if a.sub == "history":
        img = e.image(a.args[0])
        hist = img.config.get("history") or []
        rows = [{"ID": "<missing>", "CreatedSince": h.get("created", ""), "CreatedBy": h.get("created_by", ""),
                 "Comment": h.get("comment", ""), "Size": "", "CreatedAt": h.get("created", "")}
                for h in reversed(hist)]
        if rows:
            rows[0]["ID"] = img.short_id
        render(a.format, rows, [("IMAGE", "ID"), ("CREATED", "CreatedAt"), ("CREATED BY", "CreatedBy"),
                                ("COMMENT", "Comment")])
        return 0
    mapping = {"ls": "images", "list": "images", "rm": "rmi", "remove": "rmi", "inspect": "inspect"}
    verb = mapping.get(a.sub, a.sub)
    return _run_verb(e, a, [verb] + (["--type", "image"] if verb == "inspect" else []) + a.args)


def cmd_network(e: Engine, a) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(a.sub, a.sub)
    if sub == "create":
        if a.driver != "bridge":
            raise NotFound(f'plugin "{a.driver}" not found (the bridge driver is the only one)')
        print(e.network_create(a.name, a.subnet, a.gateway, a.internal, a.label)["Id"])
        return 0
    if sub == "ls":
        rows = [{"ID": r["Id"][:12], "Name": r["Name"], "Driver": "bridge", "Scope": "local",
                 "IPv6": "false", "Internal": str(r["Internal"]).lower(), "Labels": ",".join(
                     f"{k}={v}" for k, v in r["Labels"].items()), "CreatedAt": r["Created"],
                 "Subnet": r["Subnet"]} for r in e.networks()]
        rows += [{"ID": "", "Name": n, "Driver": n, "Scope": "local", "IPv6": "false", "Internal": "false",
                  "Labels": "", "CreatedAt": "", "Subnet": ""} for n in ("host", "none")]
        rows.sort(key=lambda r: r["Name"])
        render(a.format, rows, [("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope")],
               "ID" if not a.quiet else "ID", a.quiet)
        return 0
    if sub == "inspect":
        return _inspect_each(a.format, a.networks, e.network_inspect)
    if sub == "rm":
        return _each(a, a.networks, e.network_remove)
    if sub == "prune":
        return _print_pruned("Deleted Networks:", e.network_prune())
    if sub == "connect":
        e.network_connect(a.network, a.container, a.alias, a.ip)
        return 0
    e.network_disconnect(a.network, a.container, a.force)
    return 0


def cmd_volume(e: Engine, a) -> int:
    sub = {"list": "ls", "remove": "rm"}.get(a.sub, a.sub)
    if sub == "create":
        if a.driver != "local":
            raise NotFound(f'plugin "{a.driver}" not found (the local driver is the only one)')
        print(e.volume_create(a.name, a.label)["Name"])
        return 0
    if sub == "ls":
        rows = [{"Driver": v["Driver"], "Name": v["Name"], "Mountpoint": v["Mountpoint"], "Scope": "local",
                 "Labels": ",".join(f"{k}={x}" for k, x in v["Labels"].items()), "CreatedAt": v["CreatedAt"]}
                for v in e.volumes()]
        render(a.format, rows, [("DRIVER", "Driver"), ("VOLUME NAME", "Name")], "Name", a.quiet)
        return 0
    if sub == "inspect":
        return _inspect_each(a.format, a.volumes, e.volume_inspect)
    if sub == "rm":
        return _each(a, a.volumes, e.volume_remove)
    names, freed = e.prune("volumes", a.all)
    _print_pruned("Deleted Volumes:", names)
    print(f"Total reclaimed space: {human_size(freed)}")
    return 0


def _inspect_each(fmt, names: list[str], inspect) -> int:
    """inspect for networks and volumes: JSON (or --format) of each; a missing one is an error line."""
    rc, out = 0, []
    for n in names:
        try:
            out.append(inspect(n))
        except EngineError as ex:
            err(str(ex))
            rc = 1
    if fmt:
        render(fmt, out, [])
    else:
        print(json.dumps(out, indent=4))
    return rc


def _print_pruned(title: str, names: list[str]) -> int:
    """A prune's section as docker prints it: the title, a line each, a blank line."""
    if names:
        print(title)
        for n in names:
            print(n)
        print()
    return 0


def _prune_line(line: str) -> str:
    """rmi's "Untagged: x" / "Deleted: id" as image prune words them."""
    word, _, rest = line.partition(": ")
    return f"{word.lower()}: {rest}"


def cmd_port(e: Engine, a) -> int:
    ports = e.ports(a.container)
    if a.private:
        want = a.private if "/" in a.private else a.private + "/tcp"
        ports = [p for p in ports if p[0] == want]
        if not ports:
            raise NotFound(f"No public port '{want}' published for {a.container}", 1)
        for _, ip, hp in ports:
            print(f"{ip}:{hp}")
        return 0
    for k, ip, hp in ports:
        print(f"{k} -> {ip}:{hp}")
    return 0


def cmd_push(e: Engine, a) -> int:
    e.push(a.reference, _tls(a), (lambda s: None) if a.quiet else (lambda s: print(s, flush=True)))
    return 0


def cmd_login(e: Engine, a) -> int:
    user = a.username
    pw = a.password
    if a.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    if not user or pw is None:
        raise InvalidParameter("login needs --username and --password (or --password-stdin)")
    e.login(a.registry, user, pw, _tls(a))
    print("Login Succeeded")
    return 0


def cmd_logout(e: Engine, a) -> int:
    if e.logout(a.registry):
        print(f"Removing login credentials for {a.registry}")
    else:
        print(f"Not logged in to {a.registry}")
    return 0


def cmd_load(e: Engine, a) -> int:
    src = a.input if a.input and a.input != "-" else sys.stdin.buffer
    if src is sys.stdin.buffer and os.isatty(0):
        raise InvalidParameter("requested load from stdin, but stdin is empty (use -i FILE)")
    for img, tags in e.load_images(src):
        if a.quiet:
            continue
        for t in tags:
            print(f"Loaded image: {t}")
        if not tags:
            print(f"Loaded image ID: {img.id}")
    return 0


def cmd_save(e: Engine, a) -> int:
    out = _archive_output(a)
    e.save_images(a.images, out["path"], a.format, out["stream"])
    return 0


def cmd_images(e: Engine, a) -> int:
    rows = image_rows(e.list_images())
    if a.reference:
        rows = [r for r in rows if r["Repository"] == a.reference or f"{r['Repository']}:{r['Tag']}" == a.reference]
    cols = [("REPOSITORY", "Repository"), ("TAG", "Tag")] + ([("DIGEST", "Digest")] if a.digests else [])
    render(a.format, rows, cols + [("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")], "ID", a.quiet)
    return 0


def cmd_rmi(e: Engine, a) -> int:
    rc = 0
    for ref in a.images:
        try:
            for line in e.remove_image(ref, a.force):
                print(line)
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def _env_files(paths: list[str]) -> list[str]:
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
        env=_env_files(a.env_file) + a.env, read_only=a.read_only, ulimits=a.ulimit,
        restart=a.restart, no_healthcheck=a.no_healthcheck, log_opts=a.log_opt,
        pid_mode=a.pid, ipc_mode=a.ipc, uts_mode=a.uts, network=a.network,
        publish=a.publish, publish_all=a.publish_all, expose=a.expose, ip=a.ip,
        network_aliases=a.network_alias, dns=a.dns, dns_search=a.dns_search, dns_options=a.dns_option,
        add_hosts=a.add_host, init=a.init, memory_swap=a.memory_swap, cpu_shares=a.cpu_shares,
        cpuset_cpus=a.cpuset_cpus, blkio_weight=a.blkio_weight, device_read_bps=a.device_read_bps,
        device_write_bps=a.device_write_bps, volumes=a.volume, mounts=a.mount, tmpfs=a.tmpfs,
        volumes_from=a.volumes_from,
        health=health if any(v is not None for v in health.values()) else None,
        labels=a.label, stop_signal=a.stop_signal, stop_timeout=a.stop_timeout, memory=a.memory, cpus=a.cpus,
        pids_limit=a.pids_limit, hostname=a.hostname, auto_remove=a.rm, workdir=a.workdir,
        entrypoint=a.entrypoint, cap_add=a.cap_add, cap_drop=a.cap_drop, privileged=a.privileged,
        security_opt=a.security_opt, user=a.user, group_add=a.group_add)


def _print_warnings(c) -> None:
    for w in getattr(c, "warnings", ()):
        print(f"WARNING: {w}", file=sys.stderr, flush=True)


def cmd_create(e: Engine, a) -> int:
    c = e.create_from(spec_from_args(a, detach=True, attach=True))
    _print_warnings(c)
    print(c.id)
    return 0


def _follow_output(e: Engine, cid: str) -> None:
    for _, stream, data in e.logs(cid, follow=True):
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        out.write(data)
        out.flush()


def cmd_run(e: Engine, a) -> int:
    if a.tty and a.interactive and not a.detach and not os.isatty(0):
        raise InvalidParameter("the input device is not a TTY", 1)
    c = e.create_from(spec_from_args(a, detach=a.detach))
    _print_warnings(c)
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
    _follow_output(e, c.id)
    code = e.wait(c.id)
    if a.rm:
        e.remove(c.id, force=True)
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
            _follow_output(e, c.id)
            return e.wait(c.id)
        print(ref)
    return rc


def _each(a, refs: list[str], fn) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
            print(ref)
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def cmd_stop(e: Engine, a) -> int:
    return _each(a, a.containers, lambda r: e.stop(r, a.time))


def cmd_kill(e: Engine, a) -> int:
    return _each(a, a.containers, lambda r: e.kill(r, a.signal))


def cmd_rm(e: Engine, a) -> int:
    return _each(a, a.containers, lambda r: e.remove(r, a.force, a.volumes))


def cmd_exec(e: Engine, a) -> int:
    if a.tty and not os.isatty(0) and a.interactive:
        raise InvalidParameter("the input device is not a TTY", 1)
    code = e.exec(a.container, a.command, tty=a.tty, interactive=a.interactive, detach=a.detach,
                  user=a.user, workdir=a.workdir, env=a.env)
    return code


def cmd_pause(e: Engine, a) -> int:
    return _each(a, a.containers, e.pause)


def cmd_unpause(e: Engine, a) -> int:
    return _each(a, a.containers, e.unpause)


def cmd_restart(e: Engine, a) -> int:
    return _each(a, a.containers, lambda r: e.restart(r, a.time))


def cmd_rename(e: Engine, a) -> int:
    e.rename(a.container, a.new_name)
    return 0


def cmd_update(e: Engine, a) -> int:
    return _each(a, a.containers, lambda r: e.update(r, a.memory, a.cpus, a.pids_limit, a.memory_swap))


def cmd_top(e: Engine, a) -> int:
    titles, rows = e.top(a.container, a.ps_args)
    render(None, [dict(zip(titles, r)) for r in rows], [(t, t) for t in titles])
    return 0


def cmd_diff(e: Engine, a) -> int:
    for kind, path in e.diff(a.container):
        print(f"{kind} {path}")
    return 0


def cmd_container(e: Engine, a) -> int:
    if a.sub == "prune":
        gone, freed = e.prune("containers")
        _print_pruned("Deleted Containers:", gone)
        print(f"Total reclaimed space: {human_size(freed)}")
        return 0
    mapping = {"ls": "ps", "list": "ps"}
    return _run_verb(e, a, [mapping.get(a.sub, a.sub)] + a.args)


def _run_verb(e: Engine, a, argv: list[str]) -> int:
    """Run ARGV, a top-level verb and its arguments, on E: docker's management commands
    (`image ls`, `container ls`, `container rm`) are the same command functions, reached
    through the same parser (A's) and engine, not through a second main()."""
    b = a.parser.parse_args(argv)
    b.root = a.root
    return getattr(b, "fn", cmd_dashboard)(e, b)


def _confirm(message: str) -> bool:
    """docker's prompt: MESSAGE [y/N], and only y (or yes) goes on."""
    sys.stdout.write(f"{message} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def _reclaimable(kind: str, u: dict) -> str:
    if u["size"] and kind != "Build Cache":
        return f"{human_size(u['reclaimable'])} ({u['reclaimable'] * 100 // u['size']}%)"
    return human_size(u["reclaimable"])


def _df_verbose(e: Engine, du: dict) -> dict:
    """docker system df -v's rows: images, containers, volumes, build cache."""
    images = []
    for it in du["Images"]["items"]:
        img = it["image"]
        repo, _, tag = (img.tags[0] if img.tags else "<none>:<none>").rpartition(":")
        images.append({"Containers": str(it["containers"]), "CreatedAt": img.created,
                       "CreatedSince": human_duration(since(img.created)) + " ago", "Digest": "<none>",
                       "ID": img.short_id, "Repository": repo, "Tag": tag, "Size": bytes_decimal(it["size"]),
                       "SharedSize": human_size(it["shared"]), "UniqueSize": human_size(it["size"] - it["shared"]),
                       "VirtualSize": human_size(it["size"])})
    ps = {r["ID"]: r for r in ps_rows(e, True)}
    containers = [dict(ps.get(it["container"].short_id, {"ID": it["container"].short_id}),
                       Size=bytes_decimal(it["size"])) for it in du["Containers"]["items"]]
    volumes = [{"Name": it["volume"]["Name"], "Driver": it["volume"]["Driver"], "Links": str(it["links"]),
                "Size": human_size(it["size"]), "Mountpoint": it["volume"]["Mountpoint"], "Scope": "local",
                "Labels": ",".join(f"{k}={v}" for k, v in it["volume"]["Labels"].items()),
                "CreatedAt": it["volume"]["CreatedAt"]} for it in du["Local Volumes"]["items"]]
    return {"Images": images, "Containers": containers, "Volumes": volumes, "BuildCache": []}


def _cmd_service(e: Engine, a) -> int:
    """system service: the Docker Engine API on a unix socket (dunnage.api), in the foreground."""
    from dunnage.api import serve
    if a.time < 0:
        raise InvalidParameter(f"invalid argument \"{a.time}\" for \"-t, --time\" flag: must not be negative")
    uri = a.uri or f"unix://{e.store.run}/docker.sock"
    try:
        serve(e.store.root, uri, float(a.time))
    except ValueError as ex:
        raise InvalidParameter(str(ex)) from None
    except OSError as ex:
        raise System(f"system service: {uri}: {ex.strerror or ex}", 1) from None
    return 0


def cmd_system(e: Engine, a) -> int:
    """system df [-v] | prune [-a] [--volumes] [-f] | info | reset [-f] | service [--time S] [URI]."""
    if a.sub == "df":
        du = e.disk_usage()
        if not a.verbose:
            rows = [{"Type": k, "TotalCount": str(u["total"]), "Active": str(u["active"]),
                     "Size": human_size(u["size"]), "Reclaimable": _reclaimable(k, u)} for k, u in du.items()]
            render(a.format, rows, [("TYPE", "Type"), ("TOTAL", "TotalCount"), ("ACTIVE", "Active"),
                                    ("SIZE", "Size"), ("RECLAIMABLE", "Reclaimable")])
            return 0
        v = _df_verbose(e, du)
        if a.format:
            render(a.format, [v], [])
            return 0
        print("Images space usage:\n")
        render(None, v["Images"], [("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"),
                                   ("CREATED", "CreatedSince"), ("SIZE", "Size"), ("SHARED SIZE", "SharedSize"),
                                   ("UNIQUE SIZE", "UniqueSize"), ("CONTAINERS", "Containers")])
        print("\nContainers space usage:\n")
        render(None, v["Containers"], [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                                       ("LOCAL VOLUMES", "LocalVolumes"), ("SIZE", "Size"),
                                       ("CREATED", "RunningFor"), ("STATUS", "Status"), ("NAMES", "Names")])
        print("\nLocal Volumes space usage:\n")
        render(None, v["Volumes"], [("VOLUME NAME", "Name"), ("LINKS", "Links"), ("SIZE", "Size")])
        print(f"\nBuild cache usage: {human_size(du['Build Cache']['size'])}\n")
        render(None, [], [("CACHE ID", "ID"), ("CACHE TYPE", "CacheType"), ("SIZE", "Size"),
                          ("CREATED", "CreatedSince"), ("LAST USED", "LastUsedSince"), ("USAGE", "UsageCount"),
                          ("SHARED", "Shared")])
        return 0
    if a.sub == "info":
        return cmd_info(e, a)
    if a.sub == "service":
        return _cmd_service(e, a)
    if a.sub == "prune":
        if not a.force:
            warnings = ["all stopped containers", "all networks not used by at least one container"]
            if a.volumes:
                warnings.append("all anonymous volumes not used by at least one container")
            warnings.append("all images without at least one container associated to them" if a.all
                            else "all dangling images")
            warnings.append("all build cache" if a.all else "unused build cache")
            if not _confirm("WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in warnings)
                            + "\nAre you sure you want to continue?"):
                return 0
        gone, freed = e.prune("containers")
        _print_pruned("Deleted Containers:", gone)
        _print_pruned("Deleted Networks:", e.network_prune())
        if a.volumes:
            names, n = e.prune("volumes")
            _print_pruned("Deleted Volumes:", names)
            freed += n
        lines, n = e.prune("images", a.all)
        _print_pruned("Deleted Images:", [_prune_line(ln) for ln in lines])
        print(f"Total reclaimed space: {human_size(freed + n)}")
        return 0
    if not a.force:  # reset
        what = ["all containers", "all images", "all networks, their bridges and this root's nftables table",
                "all build cache", "all volumes", f'the root directory: "{e.store.root}"',
                f'the run directory: "{e.store.run}"']
        if not _confirm("WARNING! This will remove:\n" + "".join(f"        - {w}\n" for w in what)
                        + "Are you sure you want to continue?"):
            return 0
    e.reset()
    return 0


def cmd_info(e: Engine, a) -> int:
    """docker info: this root and this host."""
    i = e.info()
    if a.format:
        render(a.format, [i], [])
        return 0
    print(info_text(i))
    for w in i["Warnings"]:
        print(w, file=sys.stderr)
    return 0


def cmd_wait(e: Engine, a) -> int:
    rc = 0
    for ref in a.containers:
        try:
            print(e.wait(ref))
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def ps_rows(e: Engine, all_: bool, no_trunc: bool = False) -> list[dict]:
    from dunnage.core.system import ps_command
    from dunnage.core.volumes import docker_mounts
    rows = []
    for c in e.containers(all_):
        cfg = c.config
        cmd = ps_command(cfg["Argv"])
        mounts, local_volumes = ps_mounts(docker_mounts(cfg["HostConfig"].get("Mounts") or []), not no_trunc)
        rows.append({
            "Command": go_quote(cmd if no_trunc else ellipsis(cmd, 20)),
            "CreatedAt": cfg["Created"], "ID": c.id if no_trunc else c.short_id, "Image": cfg["ImageName"],
            "Labels": ",".join(f"{k}={v}" for k, v in (cfg["Config"].get("Labels") or {}).items()),
            "LocalVolumes": local_volumes, "Mounts": mounts, "Names": c.name,
            "Networks": ",".join(cfg.get("NetworkConfigs") or {}) or cfg["HostConfig"].get("NetworkMode", ""),
            "Ports": ports_text(e.published_ports(c)),
            "RunningFor": human_duration(since(cfg["Created"])) + " ago", "Size": "N/A",
            "State": c.status, "Status": status_text(c),
            "_labels": cfg["Config"].get("Labels") or {},
        })
    return rows


def cmd_ps(e: Engine, a) -> int:
    rows = ps_rows(e, a.all, a.no_trunc)
    render(a.format, rows, [("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"),
                            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"),
                            ("NAMES", "Names")], "ID", a.quiet)
    return 0


def cmd_logs(e: Engine, a) -> int:
    import datetime as dt
    from dunnage.core.logs import PROMPT_NS, LineJoiner
    since = _parse_since(a.since) if a.since else None
    until = _parse_since(a.until) if a.until else None
    tail = None
    if a.tail is not None and a.tail != "all":
        try:
            tail = int(a.tail)
        except ValueError:
            raise InvalidParameter(f'invalid value for --tail: "{a.tail}"', 1) from None

    def write(t: int, stream: str, data: bytes) -> None:
        if since is not None and t < since or until is not None and t > until:
            return
        if a.timestamps:  # docker's RFC3339NanoFixed: nine digits always
            data = (dt.datetime.fromtimestamp(t // 10**9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
                    + f".{t % 10**9:09d}Z ").encode() + data
        out = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        out.write(data)
        out.flush()

    # with timestamps or --tail the log is read as lines (a line the pump read in two pieces
    # is one line); otherwise it goes out as it was written
    joiner = LineJoiner() if a.timestamps or tail is not None else None

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


def cmd_inspect(e: Engine, a) -> int:
    out, rc = [], 0
    for ref in a.objects:
        try:
            if a.type == "image":
                out.append(e.inspect_image(ref))
                continue
            try:
                out.append(e.inspect(ref))
            except EngineError:
                if a.type == "container":
                    raise
                out.append(e.inspect_image(ref))
        except EngineError:
            err(f"No such object: {ref}")
            rc = 1
    if a.format:
        render(a.format, out, [])
    else:
        print(json.dumps(out, indent=4))
    return rc


def cmd_stats(e: Engine, a) -> int:
    table = [("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
             ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs")]
    if a.no_stream:
        render(a.format, [stats_row(s) for s in e.stats(a.containers, a.all)], table)
        return 0
    try:
        while True:
            rows = [stats_row(s) for s in e.stats(a.containers, a.all)]
            if not a.format or a.format.startswith("table"):
                sys.stdout.write("\x1b[2J\x1b[H")
            render(a.format, rows, table)
            sys.stdout.flush()
    except KeyboardInterrupt:
        return 0


def cmd_events(e: Engine, a) -> int:
    """docker events: past records (--since) then new ones as they come."""
    import datetime as dt
    since_ns = 0
    if a.since:
        since_ns = _parse_since(a.since)
    else:
        since_ns = __import__("time").time_ns()
    tmpl = None
    if a.format and a.format != "json":
        try:  # parsed before the first event, run on each as docker does
            tmpl = gotemplate.parse(a.format)
        except gotemplate.TemplateError as ex:
            raise InvalidParameter(f"template parsing error: {ex}", 125) from None
    try:
        for r in e.follow_events(since_ns):
            msg = {"Type": r["Type"], "Action": r["Action"], "Actor": {"ID": r["id"], "Attributes": r["Attributes"]},
                   "time": r["time_ns"] // 10**9, "timeNano": r["time_ns"]}
            if a.format == "json":
                print(json.dumps(msg), flush=True)
            elif tmpl is not None:
                try:
                    print(tmpl.execute(msg), flush=True)
                except gotemplate.TemplateError as ex:
                    raise InvalidParameter(f"template parsing error: {ex}", 125) from None
            else:
                stamp = dt.datetime.fromtimestamp(r["time_ns"] / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")
                attrs = ", ".join(f"{k}={v}" for k, v in sorted(r["Attributes"].items()))
                print(f"{stamp} {r['Type']} {r['Action']} {r['id']}" + (f" ({attrs})" if attrs else ""), flush=True)
    except KeyboardInterrupt:
        return 0
    return 0


def _parse_since(s: str) -> int:
    import time as _t
    from dunnage.core.units import parse_iso
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", s)
    if m:
        return _t.time_ns() - int(float(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)] * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return int(float(s) * 1e9)
    t = parse_iso(s)
    if t is None:
        raise InvalidParameter(f"invalid value for --since: {s}")
    return int(t.timestamp() * 1e9)


def cmd_demo(e: Engine, a) -> int:
    from dunnage.tui.demo import setup_demo
    setup_demo(e, quiet=False)
    if a.no_tui:
        return 0
    from dunnage.tui.app import run_app
    return run_app(e)


def cmd_dashboard(e: Engine, a) -> int:
    from dunnage.tui.app import run_app
    return run_app(e)


# ---------------------------------------------------------------- parser
def _run_flags(p: argparse.ArgumentParser, run: bool) -> None:
    if run:
        p.add_argument("-d", "--detach", action="store_true", help="run in the background, print the id")
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("--rm", action="store_true", help="remove the container when it exits")
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


_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _go_bool(p: argparse.ArgumentParser, *flags: str, default: bool, help: str) -> None:
    """A boolean flag as Go's flag package has them: bare it is true, and FLAG=false (any of
    strconv.ParseBool's words) turns it off. argparse looks an argument up whole before it
    splits it at '=', so each spelling with its value is an option of its own."""
    dest = flags[-1].lstrip("-").replace("-", "_")
    p.add_argument(*flags, dest=dest, action="store_true", default=default, help=help)
    p.add_argument(*[f"{f}={v}" for f in flags for v in _GO_TRUE], dest=dest, action="store_true",
                   help=argparse.SUPPRESS)
    p.add_argument(*[f"{f}={v}" for f in flags for v in _GO_FALSE], dest=dest, action="store_false",
                   help=argparse.SUPPRESS)


def build_parser() -> Parser:
    ap = Parser(prog=PROG, description="A container engine and terminal dashboard. Without a command: the dashboard.")
    ap.add_argument("--root", help="store directory (default /var/lib/dunnage, or $DUNNAGE_ROOT)")
    ap.add_argument("-v", "--version", action="store_true", help="print the version")
    ap.set_defaults(parser=ap)  # for the management commands' verbs (_run_verb)
    sub = ap.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("import", help="make an image from a root filesystem tarball")
    p.add_argument("-c", "--change", action="append", help="apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR)")
    p.add_argument("file")
    p.add_argument("reference", nargs="?")
    p.set_defaults(fn=cmd_import)

    p = sub.add_parser("pull", help="pull an image from a registry")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--platform", help="os/arch[/variant] to take from a multi-platform image (default: this machine's)")
    p.add_argument("--tls-verify", help="false: plain HTTP (loopback registries are plain HTTP already)")
    p.add_argument("reference")
    p.set_defaults(fn=cmd_pull)

    p = sub.add_parser("commit", help="make an image of a container's changes")
    p.add_argument("-c", "--change", action="append", help="apply a Dockerfile instruction (CMD, ENV, …)")
    p.add_argument("-m", "--message")
    p.add_argument("-a", "--author")
    _go_bool(p, "-p", "--pause", default=True, help="pause while committing (default true; --pause=false)")
    p.add_argument("--no-pause", action="store_true")
    p.add_argument("container")
    p.add_argument("reference", nargs="?")
    p.set_defaults(fn=cmd_commit)

    p = sub.add_parser("export", help="a container's file system as a tar archive")
    p.add_argument("-o", "--output")
    p.add_argument("container")
    p.set_defaults(fn=cmd_export)

    p = sub.add_parser("cp", help="copy files between a container and the host")
    p.add_argument("src", help="CONTAINER:PATH or a host path")
    p.add_argument("dest", help="CONTAINER:PATH, a host path, or - (a tar on standard output)")
    p.set_defaults(fn=cmd_cp)

    p = sub.add_parser("tag", help="give an image another name")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(fn=cmd_tag)

    p = sub.add_parser("image", help="manage images (ls, rm, inspect, history, prune, tag, pull, push, load, save)")
    p.add_argument("sub", choices=["ls", "list", "rm", "remove", "inspect", "history", "prune", "tag", "pull", "push",
                                   "load", "save", "import"])
    p.add_argument("-a", "--all", action="store_true", help="prune: every image no container uses")
    p.add_argument("--format")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_image)

    p = sub.add_parser("network", help="manage networks (create, ls, inspect, rm, prune, connect, disconnect)")
    nsub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = nsub.add_parser("create", help="create a bridge network")
    q.add_argument("--subnet", help="CIDR, e.g. 10.89.0.0/24 (a free one is picked otherwise)")
    q.add_argument("--gateway", help="the bridge's address (the subnet's first host otherwise)")
    q.add_argument("--internal", action="store_true", help="no way out of the network")
    q.add_argument("--label", action="append", default=[])
    q.add_argument("-d", "--driver", default="bridge", help="bridge (the only driver)")
    q.add_argument("name")
    q = nsub.add_parser("ls", aliases=["list"], help="list networks")
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("--format")
    q = nsub.add_parser("inspect", help="show networks as JSON")
    q.add_argument("--format", "-f")
    q.add_argument("networks", nargs="+")
    q = nsub.add_parser("rm", aliases=["remove"], help="remove networks")
    q.add_argument("networks", nargs="+")
    q = nsub.add_parser("prune", help="remove every network no container uses")
    q.add_argument("-f", "--force", action="store_true")
    q = nsub.add_parser("connect", help="attach a container to a network")
    q.add_argument("--alias", action="append", default=[])
    q.add_argument("--ip")
    q.add_argument("network")
    q.add_argument("container")
    q = nsub.add_parser("disconnect", help="detach a container from a network")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("network")
    q.add_argument("container")
    p.set_defaults(fn=cmd_network)

    p = sub.add_parser("volume", help="manage volumes (create, ls, inspect, rm, prune)")
    vsub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = vsub.add_parser("create", help="create a volume")
    q.add_argument("--label", action="append", default=[])
    q.add_argument("-d", "--driver", default="local")
    q.add_argument("name", nargs="?")
    q = vsub.add_parser("ls", aliases=["list"], help="list volumes")
    q.add_argument("-q", "--quiet", action="store_true")
    q.add_argument("--format")
    q = vsub.add_parser("inspect", help="show volumes as JSON")
    q.add_argument("--format", "-f")
    q.add_argument("volumes", nargs="+")
    q = vsub.add_parser("rm", aliases=["remove"], help="remove volumes")
    q.add_argument("-f", "--force", action="store_true")
    q.add_argument("volumes", nargs="+")
    q = vsub.add_parser("prune", help="remove unused anonymous volumes (-a: every unused volume)")
    q.add_argument("-a", "--all", action="store_true")
    q.add_argument("-f", "--force", action="store_true")
    p.set_defaults(fn=cmd_volume)

    p = sub.add_parser("port", help="list a container's published ports")
    p.add_argument("container")
    p.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    p.set_defaults(fn=cmd_port)

    p = sub.add_parser("push", help="push an image to a registry")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--tls-verify")
    p.add_argument("reference")
    p.set_defaults(fn=cmd_push)

    p = sub.add_parser("login", help="keep credentials for a registry")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--tls-verify")
    p.add_argument("registry")
    p.set_defaults(fn=cmd_login)

    p = sub.add_parser("logout", help="forget a registry's credentials")
    p.add_argument("registry")
    p.set_defaults(fn=cmd_logout)

    p = sub.add_parser("load", help="load images from a docker archive or an OCI layout")
    p.add_argument("-i", "--input", help="archive file or OCI layout directory (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_load)

    p = sub.add_parser("save", help="write images to an archive docker and podman can load")
    p.add_argument("-o", "--output")
    p.add_argument("--format", default="docker-archive", choices=["docker-archive", "oci-archive"])
    p.add_argument("images", nargs="+")
    p.set_defaults(fn=cmd_save)

    p = sub.add_parser("images", help="list images")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--digests", action="store_true")
    p.add_argument("--format")
    p.add_argument("reference", nargs="?")
    p.set_defaults(fn=cmd_images)

    p = sub.add_parser("rmi", help="remove images")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("images", nargs="+")
    p.set_defaults(fn=cmd_rmi)

    p = sub.add_parser("run", help="run a command in a new container", add_help=False)
    _run_flags(p, True)
    p.set_defaults(fn=cmd_run)
    p = sub.add_parser("create", help="create a container", add_help=False)
    _run_flags(p, False)
    p.set_defaults(fn=cmd_create)

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

    p = sub.add_parser("exec", help="run a command in a running container", add_help=False)
    p.add_argument("-i", "--interactive", action="store_true", help="keep standard input open")
    p.add_argument("-t", "--tty", action="store_true", help="allocate a terminal")
    p.add_argument("-d", "--detach", action="store_true", help="run in the background")
    p.add_argument("-u", "--user", help="user[:group]")
    p.add_argument("-w", "--workdir", help="working directory")
    p.add_argument("-e", "--env", action="append", default=[], metavar="K=V")
    p.add_argument("--help", action="help", help="show this help")
    p.add_argument("container")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_exec)

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
    p.add_argument("--cpus")
    p.add_argument("--pids-limit", type=int)
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_update)

    p = sub.add_parser("top", help="the processes of a container")
    p.add_argument("container")
    p.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="PS OPTIONS", help="passed to ps (aux, -o pid,comm)")
    p.set_defaults(fn=cmd_top)

    p = sub.add_parser("diff", help="what a container changed in its file system")
    p.add_argument("container")
    p.set_defaults(fn=cmd_diff)

    p = sub.add_parser("container", help="manage containers (ls, prune, and every container verb)")
    p.add_argument("sub")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(fn=cmd_container)

    p = sub.add_parser("system", help="manage this root (df, prune, info, reset)")
    ssub = p.add_subparsers(dest="sub", metavar="COMMAND", parser_class=Parser, required=True)
    q = ssub.add_parser("df", help="disk usage of images, containers, volumes and build cache")
    q.add_argument("-v", "--verbose", action="store_true", help="each image, container and volume")
    q.add_argument("--format")
    q = ssub.add_parser("prune", help="remove stopped containers, unused networks, dangling images")
    q.add_argument("-a", "--all", action="store_true", help="every image no container uses, not only dangling ones")
    q.add_argument("--volumes", action="store_true", help="anonymous volumes no container uses too")
    q.add_argument("-f", "--force", action="store_true", help="do not ask")
    q = ssub.add_parser("info", help="system-wide information")
    q.add_argument("-f", "--format")
    q = ssub.add_parser("reset", help="remove everything of this root: containers, images, volumes, networks")
    q.add_argument("-f", "--force", action="store_true", help="do not ask")
    q = ssub.add_parser("service", help="serve the Docker Engine API on a unix socket, in the foreground")
    q.add_argument("-t", "--time", type=int, default=5, help="exit after SECONDS without a request (0: never)")
    q.add_argument("uri", nargs="?", help="unix:///PATH (default: docker.sock in the root's run directory)")
    p.set_defaults(fn=cmd_system)

    p = sub.add_parser("info", help="system-wide information")
    p.add_argument("-f", "--format")
    p.set_defaults(fn=cmd_info)

    p = sub.add_parser("attach", help="attach to a running container's input and output")
    p.add_argument("--no-stdin", action="store_true")
    p.add_argument("container")
    p.set_defaults(fn=cmd_attach)

    p = sub.add_parser("wait", help="wait for containers to stop, print exit codes")
    p.add_argument("containers", nargs="+")
    p.set_defaults(fn=cmd_wait)

    p = sub.add_parser("ps", help="list containers")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-trunc", action="store_true", help="full IDs and commands")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--format")
    p.set_defaults(fn=cmd_ps)

    p = sub.add_parser("logs", help="show a container's output")
    p.add_argument("-f", "--follow", action="store_true")
    p.add_argument("-t", "--timestamps", action="store_true")
    p.add_argument("-n", "--tail", help="number of lines from the end (or all)")
    p.add_argument("--since", help="show logs since (10m, a unix time, or an ISO time)")
    p.add_argument("--until", help="show logs before (10m, a unix time, or an ISO time)")
    p.add_argument("container")
    p.set_defaults(fn=cmd_logs)

    p = sub.add_parser("inspect", help="low-level information as JSON")
    p.add_argument("--type", choices=["container", "image"])
    p.add_argument("-f", "--format")
    p.add_argument("objects", nargs="+")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("stats", help="live resource use")
    p.add_argument("-a", "--all", action="store_true")
    p.add_argument("--no-stream", action="store_true")
    p.add_argument("--format")
    p.add_argument("containers", nargs="*")
    p.set_defaults(fn=cmd_stats)

    p = sub.add_parser("events", help="follow lifecycle events")
    p.add_argument("--since", help="show events since (10m, a unix time, or an ISO time)")
    p.add_argument("--format")
    p.set_defaults(fn=cmd_events)

    p = sub.add_parser("demo", help="build the demo image, start demo containers, open the dashboard")
    p.add_argument("--no-tui", action="store_true", help="only set up")
    p.set_defaults(fn=cmd_demo)
    commands.register_all(sub)
    return ap


def main(argv: Optional[list[str]] = None, ap: Optional[Parser] = None) -> int:
    """Run one command; AP is a parser from build_parser() to use (the fork server
    builds it once for every command it runs)."""
    argv = sys.argv[1:] if argv is None else argv
    ap = build_parser() if ap is None else ap
    try:
        a = ap.parse_args(argv)
        if a.version:
            print("dunnage version 0.1.0")
            return 0
        e = Engine(a.root)
        fn = getattr(a, "fn", cmd_dashboard)
        return fn(e, a)
    except UsageError as ex:
        print(f"{PROG}: {ex}", file=sys.stderr)
        return 125
    except EngineError as ex:
        err(str(ex))
        return ex.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    from dunnage.core.forkserver import register_front
    register_front("dunnage.tui.cli:main", "dunnage.tui.cli:build_parser")  # for the fork servers we start
    sys.exit(main())


if __name__ == "__main__":
    entry()
