"""Container endpoints, thin over the Engine facade and core/spec.py's ContainerSpec."""
from __future__ import annotations

import datetime as _dt
import functools
import queue
import socket
import struct
import threading
import time
from typing import Optional

from .errors import ApiError, NotModified, container_of
from .router import qbool, qfilters, qint, qstr
from .responses import Hijack, Response, Stream

ACTIVE = ("running", "paused", "restarting")


@functools.lru_cache(maxsize=4096)
def _timestamp(iso: str) -> Optional[float]:
    """An ISO time of a record as seconds since the epoch (None for none), parsed once:
    a listing of a hundred containers asks for the same times at each request."""
    from dunnage.core.units import parse_iso
    t = parse_iso(iso or "")
    return t.timestamp() if t else None


def _epoch(iso: str) -> int:
    return int(_timestamp(iso) or 0)


def _since(iso: str, now: float) -> float:
    t = _timestamp(iso)
    return now - t if t is not None else 0.0


def status_text(c, now: Optional[float] = None) -> str:
    """docker ps's STATUS column (NOW: time.time() of the listing)."""
    from dunnage.core.units import human_duration
    now = time.time() if now is None else now
    st = c.state
    s = c.status
    if s == "created":
        return "Created"
    if s in ("running", "paused", "restarting"):
        text = "Up " + human_duration(_since(st.get("StartedAt", ""), now))
        return text + " (Paused)" if s == "paused" else text
    fin = st.get("FinishedAt") or ""
    ago = human_duration(_since(fin, now)) + " ago" if fin else ""
    return f"Exited ({int(st.get('ExitCode') or 0)}) {ago}".strip()


def summary(e, c, now: Optional[float] = None) -> dict:
    """One entry of GET /containers/json (NOW: time.time() of the listing)."""
    cfg = c.config.get("Config") or {}
    argv = c.config.get("Argv") or []
    ports = []
    if c.status in ACTIVE:
        for key, binds in (e.published_ports(c) or {}).items():
            port, _, proto = key.partition("/")
            if not binds:  # exposed, not published: dockerd lists it without a host side (ps: 7000/tcp)
                ports.append({"PrivatePort": int(port), "Type": proto or "tcp"})
            for b in binds or []:
                ports.append({"IP": b.get("HostIp") or "0.0.0.0", "PrivatePort": int(port),
                              "PublicPort": int(b.get("HostPort") or 0), "Type": proto or "tcp"})
    nets = ((c.state.get("NetworkSettings") or {}).get("Networks")) or {}
    return {"Id": c.id, "Names": ["/" + c.name], "Image": c.config.get("ImageName") or c.config.get("Image", ""),
            "ImageID": c.config.get("Image", ""), "Command": " ".join(argv),
            "Created": _epoch(c.config.get("Created", "")), "Ports": ports, "Labels": cfg.get("Labels") or {},
            "State": c.status, "Status": status_text(c, now),
            "HostConfig": {"NetworkMode": (c.config.get("HostConfig") or {}).get("NetworkMode") or "default"},
            "NetworkSettings": {"Networks": nets}, "Mounts": []}


def list_(req):
    e = req.engine()
    q = req.query
    filters = qfilters(q)
    limit = qint(q, "limit", -1)
    all_ = qbool(q, "all") or (limit is not None and limit > 0)
    cs = e.containers(all_=all_, filters=filters)  # (a bad filter: dockerd's 400 and words)
    cs.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
    if limit is not None and limit > 0:
        cs = cs[:limit]
    now = time.time()
    out = [summary(e, c, now) for c in cs]
    if qbool(q, "size"):  # docker ps -s
        for doc, c in zip(out, cs):
            doc["SizeRw"], doc["SizeRootFs"] = e.container_size(c)
    return out


def create(req):
    from dunnage.core import ContainerSpec
    body = req.json({})
    name = qstr(req.query, "name")
    if not isinstance(body, dict):
        raise ApiError(400, "invalid create request: a JSON object expected")
    if not body.get("Image"):
        raise ApiError(400, "Config cannot be empty in order to create a container")
    spec = ContainerSpec.from_docker(body, name or None)
    e = req.engine()
    try:
        e.image(spec.config.image)
    except Exception:  # noqa: BLE001 - the engine's message for a missing image is the CLI's
        raise ApiError(404, f"No such image: {spec.config.image}") from None
    c = e.create_from(spec)
    return Response(201, {"Id": c.id, "Warnings": list(getattr(c, "warnings", None) or [])})


def inspect(req):
    e = req.engine()
    doc = e.inspect(container_of(e, req.params["id"]).id, qbool(req.query, "size"))  # (found once: by id)
    lc = (doc.get("HostConfig") or {}).get("LogConfig") or {}
    if lc.get("Type") == "dunnage-msgpack":
        # dunnage's own log reads back as docker's json-file does (docker logs, attach
        # with logs=1); clients such as docker-py's containers.run() read a
        # container's output only from a driver they know to be readable
        lc["Type"] = "json-file"
    return doc


def start(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    if c.running():
        raise NotModified()
    waiting, on_listening = _hand_attaches(e, c.id)
    try:
        e.start(c.id, on_listening=on_listening, attach=bool(waiting))
    except FileNotFoundError:
        # an AutoRemove container can end and be removed by its shim before the start's
        # last look at its records: it did start
        if c.dir.exists():
            raise
    finally:
        for q in waiting:
            q.put(None)  # a start that failed: those waiting end (after a success, a no-op)
    return None


def stop(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    if c.status not in ACTIVE:
        raise NotModified()
    e.stop(c.id, qint(req.query, "t"))
    return None


def kill(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    if c.status not in ACTIVE:
        raise ApiError(409, f"Container {c.id} is not running")
    e.kill(c.id, qstr(req.query, "signal") or "KILL")
    return None


def restart(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    e.restart(c.id, qint(req.query, "t"))
    return None


def pause(req):
    e = req.engine()
    e.pause(container_of(e, req.params["id"]).id)
    return None


def unpause(req):
    e = req.engine()
    e.unpause(container_of(e, req.params["id"]).id)
    return None


def rename(req):
    e = req.engine()
    new = qstr(req.query, "name")
    if not new:
        raise ApiError(400, "the new name is missing")
    e.rename(container_of(e, req.params["id"]).id, new)
    return None


def update(req):
    """docker update through the API: the body's limits that are not 0 change (docker's
    client sends every field, 0 for what the user left alone)."""
    body = req.json({})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid update request: a JSON object expected")
    e = req.engine()

    def given(key: str) -> Optional[str]:
        v = body.get(key)
        if v in (None, 0):
            return None
        if not isinstance(v, int) or isinstance(v, bool):
            raise ApiError(400, f"invalid {key}: an integer expected")
        return str(v)
    nano = given("NanoCpus")
    rp = body.get("RestartPolicy") or {}  # (docker's client sends {"Name": ""} when --restart is not given)
    if not isinstance(rp, dict):
        raise ApiError(400, "invalid RestartPolicy: a JSON object expected")
    restart = None
    if rp.get("Name"):
        n = rp.get("MaximumRetryCount") or 0
        restart = f"{rp['Name']}:{n}" if n else str(rp["Name"])
    e.update(container_of(e, req.params["id"]).id, memory=given("Memory"),
             cpus=None if nano is None else str(int(nano) / 1e9), pids_limit=body.get("PidsLimit"),
             memory_swap=given("MemorySwap"), memory_reservation=given("MemoryReservation"), restart=restart)
    return {"Warnings": []}


def remove(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    e.remove(c.id, force=qbool(req.query, "force"), volumes=qbool(req.query, "v"))
    return None


def top(req):
    import shlex
    e = req.engine()
    c = container_of(e, req.params["id"])
    if c.status not in ACTIVE:
        raise ApiError(409, f"Container {c.id} is not running")
    args = qstr(req.query, "ps_args")
    titles, rows = e.top(c.id, shlex.split(args) if args else None)
    return {"Titles": titles, "Processes": rows}


def _exit_code_from_events(e, cid: str):
    events, _ = e.events_since(0)
    for ev in reversed(events):
        if ev.get("id") == cid and ev.get("Action") == "die":
            try:
                return int((ev.get("Attributes") or {}).get("exitCode"))
            except (TypeError, ValueError):
                return None
    return None


def wait(req):
    """docker's wait: not-running (the default), next-exit, removed; the headers go at
    once, the status code when the condition holds (as dockerd, so a client may wait
    before it starts the container)."""
    e = req.engine()
    cond = qstr(req.query, "condition") or "not-running"
    if cond not in ("not-running", "next-exit", "removed"):
        raise ApiError(400, f"invalid condition: {cond}")
    c = container_of(e, req.params["id"])
    first = (c.state.get("StartedAt"), c.state.get("FinishedAt"))

    def body():
        code = int(c.state.get("ExitCode") or 0)
        seen_run = c.status in ACTIVE
        from dunnage.core import EngineError
        while not req.gone():
            try:
                c.reload()
            except (FileNotFoundError, OSError, EngineError):
                found = None
            else:
                found = c
                try:
                    e.container(c.id)
                except EngineError:
                    found = None
            if found is None:
                ev = _exit_code_from_events(e, c.id)
                yield _json({"StatusCode": code if ev is None else ev, "Error": None})
                return
            code = int(c.state.get("ExitCode") or 0)
            running = c.status in ACTIVE
            seen_run = seen_run or running
            changed = (c.state.get("StartedAt"), c.state.get("FinishedAt")) != first
            if not running and cond != "removed":
                if cond == "not-running" or (cond == "next-exit" and (seen_run or changed)
                                             and c.state.get("FinishedAt")):
                    yield _json({"StatusCode": code, "Error": None})
                    return
            if not (c.shim_alive() and c.wait_shim(0.05)):
                time.sleep(0.05)
    return Stream(body())


def _json(obj) -> bytes:
    import json
    return json.dumps(obj).encode() + b"\n"


def _frame(stream: str, data: bytes) -> bytes:
    return struct.pack(">BxxxL", 2 if stream == "stderr" else 1, len(data)) + data


def _stamp(ns: int) -> bytes:
    t = _dt.datetime.fromtimestamp(ns // 1_000_000_000, _dt.timezone.utc)
    return (t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 1_000_000_000:09d}Z ").encode()


def _since_ns(v) -> int:
    if not v:
        return 0
    try:
        return int(float(v) * 1e9)
    except ValueError:
        raise ApiError(400, f"invalid value for since: {v!r}") from None


def logs(req):
    e = req.engine()
    q = req.query
    c = container_of(e, req.params["id"])
    out, err = qbool(q, "stdout"), qbool(q, "stderr")
    if not (out or err):
        raise ApiError(400, "Bad parameters: you must choose at least one stream")
    follow, stamps = qbool(q, "follow"), qbool(q, "timestamps")
    since, until = _since_ns(qstr(q, "since")), _since_ns(qstr(q, "until"))
    tail = qstr(q, "tail") or "all"
    if tail != "all":
        try:
            tail_n = int(tail)
        except ValueError:
            tail_n = -1
    else:
        tail_n = -1
    tty = bool((c.config.get("Config") or {}).get("Tty"))
    line_start = {"stdout": True, "stderr": True}  # whether the stream's next byte begins a line

    def pack(ts, stream, data):
        if stamps:  # docker stamps each line; the shim's records are what each read of the pipe gave
            pieces = data.split(b"\n")
            lines = [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
            out = []
            for line in lines:
                out.append(_stamp(ts) + line if line_start[stream] else line)
                line_start[stream] = line.endswith(b"\n")
            data = b"".join(out)
        return data if tty else _frame(stream, data)

    wanted = {"stdout"} if not err else {"stderr"} if not out else {"stdout", "stderr"}

    def keep(r) -> bool:
        return r[1] in wanted and r[0] >= since and (not until or r[0] <= until)

    # the last lines (docker's tail counts lines, not the shim's records: a record may hold many
    # or part of one) and the readers are made before the headers go: a container removed by
    # now is a 404, as dockerd's; one removed later ends the stream (its records end), as dockerd's
    from dunnage.core.logs import tail_lines
    last, seen = tail_lines(str(c.log_path), tail_n) if tail_n >= 0 else ([], 0)
    recs = e.logs(c.id, follow=follow, stop=req.gone)

    def body():
        if tail_n >= 0:
            for r in last:
                if keep(r):
                    yield pack(*r)
            if not follow:
                return
        try:
            for i, r in enumerate(recs):
                if i >= seen and keep(r):  # (the follow reads the log from its start again)
                    yield pack(*r)
        finally:
            close = getattr(recs, "close", None)
            if close:
                close()
    ctype = "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream"
    return Stream(body(), ctype)


_pending_lock = threading.Lock()
_pending: dict[str, list[queue.Queue]] = {}  # container id -> attaches waiting for its start


def _hand_attaches(e, cid: str):
    """For start: the attaches waiting on CID (claimed now), and the on_listening that
    connects one attach socket each, before the command runs, so they miss nothing."""
    with _pending_lock:
        waiting = _pending.pop(cid, [])
    if not waiting:
        return waiting, None

    def on_listening():
        for q in waiting:
            try:
                q.put(e.attach_socket(cid))
            except Exception:  # noqa: BLE001
                q.put(None)
    return waiting, on_listening


def attach(req):
    """The hijacked connection of docker attach, and of docker run without -d, which
    attaches before it starts the container: that start (start below) connects to the
    shim's attach socket before the command runs, so nothing is missed.  logs=1 sends
    the log first.  stdin=1 relays what the client sends to the container's stdin (its
    terminal with a tty) as docker does: at the client's end of input a tty's attach
    ends and the container goes on, a StdinOnce container's stdin closes, another's
    attach ends."""
    e = req.engine()
    q = req.query
    c = container_of(e, req.params["id"])
    out, err = qbool(q, "stdout"), qbool(q, "stderr")
    with_logs, stream = qbool(q, "logs"), qbool(q, "stream")
    cfg = c.config.get("Config") or {}
    tty = bool(cfg.get("Tty"))
    stdin = qbool(q, "stdin") and bool(cfg.get("OpenStdin"))
    stdin_once = bool((c.config.get("Docker") or {}).get("StdinOnce", cfg.get("StdinOnce")))
    detach_keys = _detach_keys(qstr(q, "detachKeys")) if tty and stdin else b""
    wanted = ({"stdout"} if out else set()) | ({"stderr"} if err else set())
    mine: queue.Queue = queue.Queue()
    running = c.status in ACTIVE
    if stream and not running:
        with _pending_lock:
            _pending.setdefault(c.id, []).append(mine)

    def unregister() -> bool:
        """Whether our wait was still unclaimed (now withdrawn)."""
        with _pending_lock:
            lst = _pending.get(c.id, [])
            if mine in lst:
                lst.remove(mine)
                if not lst:
                    _pending.pop(c.id, None)
                return True
            return False

    def run(req_, write):
        from dunnage.core import EngineError
        from dunnage.core.attach import EXIT, STDERR, STDOUT, Reader
        if with_logs:
            for ts, s, data in e.logs(c.id):
                if s in wanted and not write(data if tty else _frame(s, data)):
                    unregister()
                    return
        if not stream:
            unregister()
            return
        sock = None
        try:
            if running:
                try:
                    sock = e.attach_socket(c.id)
                except EngineError:
                    return
            while sock is None:
                try:
                    sock = mine.get(timeout=0.1)
                    if sock is None:
                        return
                    break
                except queue.Empty:
                    pass
                if req_.gone():
                    if unregister():
                        return
                    continue  # a start claimed us: take its socket and close it
                try:
                    c.reload()
                except OSError:
                    if unregister():
                        return
                    continue
                if c.status in ACTIVE and unregister():
                    try:
                        sock = e.attach_socket(c.id)  # started by another front
                    except EngineError:
                        return
            if req_.gone():
                return
            if stdin:
                _relay_stdin(req_.handler, sock, tty, stdin_once, detach_keys)
            rd = Reader()
            while True:
                data = sock.recv(65536)
                if not data:
                    return
                for kind, payload in rd.feed(data):
                    if kind == EXIT:
                        return
                    name = "stdout" if kind == STDOUT else "stderr" if kind == STDERR else None
                    if name in wanted and not write(payload if tty else _frame(name, payload)):
                        return
        finally:
            if sock is not None:
                _end_relay(req_.handler, sock)
    return Hijack(run, "application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")


def _detach_keys(spec) -> bytes:
    """docker's detach keys (detachKeys: "ctrl-p,ctrl-q", letters, ctrl-@..ctrl-_);
    ctrl-p ctrl-q by default.  400 for what docker refuses too."""
    if not spec:
        return DETACH_KEYS
    out = bytearray()
    for k in spec.split(","):
        k = k.strip()
        if k.startswith("ctrl-") and len(k) == 6 and k[5].lower() in "abcdefghijklmnopqrstuvwxyz@[\\]^_":
            out.append(ord(k[5].upper()) & 0x1F)
        elif len(k) == 1 and k.isascii():
            out.append(ord(k))
        else:
            raise ApiError(400, f"Invalid detach keys ({spec}) provided")
    return bytes(out)


DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q


def _relay_stdin(handler, sock, tty: bool, stdin_once: bool, detach_keys: bytes = b"") -> None:
    """A thread that sends what the client writes on the hijacked connection to SOCK
    (the shim's attach socket) as STDIN frames.  At the client's end of input, a
    StdinOnce container without a tty gets STDIN_EOF and its output goes on; else the
    attach ends (docker's container/stream/attach.go).  With a tty, DETACH_KEYS in a
    row end the attach and are not sent; a part of them is held until the next key
    says whether they are (the docker CLI takes them out itself: its clients'
    sequences never get here)."""
    from dunnage.core.attach import STDIN, STDIN_EOF, frame
    handler.relay_done = False

    def pump():
        held = b""
        try:
            while True:
                try:
                    data = handler.rfile.read1(65536)
                except (OSError, ValueError):
                    data = b""
                if handler.relay_done:
                    return
                if not data:
                    if stdin_once and not tty:
                        sock.sendall(frame(STDIN_EOF))
                    else:
                        sock.shutdown(socket.SHUT_RDWR)  # the output's loop ends
                    return
                if detach_keys:
                    data, held = held + data, b""
                    if detach_keys in data:
                        before = data[:data.index(detach_keys)]
                        if before:
                            sock.sendall(frame(STDIN, before))
                        sock.shutdown(socket.SHUT_RDWR)  # detached: the container goes on
                        return
                    for n in range(min(len(detach_keys) - 1, len(data)), 0, -1):
                        if data.endswith(detach_keys[:n]):
                            data, held = data[:-n], data[-n:]
                            break
                    if not data:
                        continue
                sock.sendall(frame(STDIN, data))
        except OSError:
            pass
    t = threading.Thread(target=pump, daemon=True, name="attach-stdin")
    handler.relay_thread = t
    t.start()


def _end_relay(handler, sock) -> None:
    """Stop the stdin relay (if any) and close SOCK: the client's reading side is shut,
    which wakes the relay's read."""
    t = getattr(handler, "relay_thread", None)
    if t is not None:
        handler.relay_done = True
        try:
            handler.connection.shutdown(socket.SHUT_RD)
        except OSError:
            pass
        t.join(5)
    sock.close()


def resize(req):
    """TIOCSWINSZ on the container's terminal, through the shim's attach socket.  Answered
    once the shim has taken the frame (it hangs up after reading our end), as dockerd
    answers once the size is set: a client's next look at the terminal sees it."""
    import struct as _struct
    from dunnage.core import EngineError
    from dunnage.core.attach import RESIZE, frame
    e = req.engine()
    h, w = qint(req.query, "h", 0), qint(req.query, "w", 0)
    if not (0 <= h <= 0xFFFF and 0 <= w <= 0xFFFF):
        raise ApiError(400, f"invalid terminal size: {h}x{w}")
    c = container_of(e, req.params["id"])
    if c.status not in ACTIVE:
        raise ApiError(409, f"Container {c.id} is not running")
    if not (c.config.get("Config") or {}).get("Tty"):
        return Response(200, None)  # (docker: nothing to resize, no error)
    try:
        sock = e.attach_socket(c.id)
    except EngineError:
        raise ApiError(409, f"Container {c.id} is not running") from None
    try:
        sock.sendall(frame(RESIZE, _struct.pack(">HH", h, w)))
        sock.shutdown(socket.SHUT_WR)
        end = time.monotonic() + RESIZE_WAIT
        while (left := end - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(65536):  # (the container's output meanwhile: not ours)
                break
    except OSError:  # (a timeout: a restarting container's shim serves no one; the frame waits)
        pass
    finally:
        sock.close()
    return Response(200, None)  # (docker: 200, no body)


RESIZE_WAIT = 5.0


def register(r) -> None:
    r.add("GET", "/containers/json", list_)
    r.add("POST", "/containers/create", create)
    r.add("GET", "/containers/{id}/json", inspect)
    r.add("POST", "/containers/{id}/start", start)
    r.add("POST", "/containers/{id}/stop", stop)
    r.add("POST", "/containers/{id}/kill", kill)
    r.add("POST", "/containers/{id}/restart", restart)
    r.add("POST", "/containers/{id}/pause", pause)
    r.add("POST", "/containers/{id}/unpause", unpause)
    r.add("POST", "/containers/{id}/rename", rename)
    r.add("POST", "/containers/{id}/update", update)
    r.add("POST", "/containers/{id}/wait", wait)
    r.add("DELETE", "/containers/{id}", remove)
    r.add("GET", "/containers/{id}/top", top)
    r.add("GET", "/containers/{id}/logs", logs)
    r.add("POST", "/containers/{id}/attach", attach)
    r.add("POST", "/containers/{id}/resize", resize)
