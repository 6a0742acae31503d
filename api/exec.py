"""Exec endpoints: create, start (detached, or attached on the hijacked connection:
docker's multiplexed frames, or the raw stream of a tty), resize, json.

Exec instances are the service's own state, as they are dockerd's (gone with it).
The process runs through Engine.exec in a child of the service whose standard
streams are pipes: run_exec relays the process's streams to its caller's own, and
the service's are not a client's.  With a tty the child's streams are instead the
slave of a pty of the service's, raw, and the child's controlling terminal: run_exec
relays it to the container's own terminal, and passes on its size when the kernel
signals a change (SIGWINCH), so /exec/{id}/resize is a TIOCSWINSZ on the service's
master."""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import selectors
import socket
import struct
import subprocess
import sys
import termios
import threading
import tty as _tty

from .errors import ApiError, container_of, not_found
from .responses import Hijack, Response
from .router import qint

_lock = threading.Lock()
_execs: dict[str, dict] = {}


def _get(xid: str) -> dict:
    with _lock:
        x = _execs.get(xid)
    if x is None:
        raise not_found("exec instance", xid)
    return x


def create(req):
    e = req.engine()
    c = container_of(e, req.params["id"])
    body = req.json({})
    if not isinstance(body, dict):
        raise ApiError(400, "invalid exec request: a JSON object expected")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd or not isinstance(cmd, list) or not all(isinstance(a, str) for a in cmd):
        raise ApiError(400, "No exec command specified")
    if c.status == "paused":
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    if not c.running():
        raise ApiError(409, f"Container {c.id} is not running")
    xid = secrets.token_hex(32)
    x = {"ID": xid, "ContainerID": c.id, "Cmd": cmd, "User": body.get("User") or "",
         "WorkingDir": body.get("WorkingDir") or "", "Env": list(body.get("Env") or []),
         "Privileged": bool(body.get("Privileged")), "Tty": bool(body.get("Tty")),
         "OpenStdin": bool(body.get("AttachStdin")),
         "OpenStdout": bool(body.get("AttachStdout")), "OpenStderr": bool(body.get("AttachStderr")),
         "Running": False, "ExitCode": None, "Pid": 0, "started": False, "master": None, "size": None}
    with _lock:
        _execs[xid] = x
    return Response(201, {"Id": xid})


def _child(root, x: dict, detach: bool, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
           stderr=subprocess.PIPE) -> subprocess.Popen:
    tty = x["Tty"] and not detach
    args = {"root": str(root), "container": x["ContainerID"], "argv": x["Cmd"], "user": x["User"] or None,
            "workdir": x["WorkingDir"] or None, "env": x["Env"], "detach": detach, "tty": tty,
            "interactive": x["OpenStdin"] and not detach}
    return subprocess.Popen([sys.executable, "-m", "dunnage.api.exec", json.dumps(args)],
                            stdin=stdin, stdout=stdout, stderr=stderr, start_new_session=tty)


def _set_size(fd: int, size) -> None:
    rows, cols = size
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _client_input(handler, into: int, tty: bool, done: threading.Event) -> threading.Thread:
    """A thread copying what the client sends on the hijacked connection to INTO (the
    pty's master, or the process's stdin pipe, closed at the client's end of input)."""
    def pump():
        try:
            while True:
                try:
                    data = handler.rfile.read1(65536)
                except (OSError, ValueError):
                    data = b""
                if done.is_set() or not data:
                    break
                _write_all(into, data)
        except OSError:
            pass
        finally:
            if not tty:
                os.close(into)
    t = threading.Thread(target=pump, daemon=True, name="exec-stdin")
    t.start()
    return t


def start(req):
    x = _get(req.params["id"])
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid exec start request: a JSON object expected")
    with _lock:
        if x["started"]:
            raise ApiError(409, f"Error: Exec command {x['ID']} has already run")
        x["started"] = True
    c = req.engine().container(x["ContainerID"])
    if not c.running():
        raise ApiError(409, f"Container {c.id} is not running")
    if body.get("Detach"):
        p = _child(req.root, x, True)
        _, err = p.communicate()
        if p.returncode:
            raise ApiError(500, err.decode(errors="replace").strip() or f"exec failed ({p.returncode})")
        return Response(200, None)

    def run(req_, write):
        if x["Tty"]:
            return _run_tty(req_, write)
        in_w = None
        if x["OpenStdin"]:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            p = _child(req_.root, x, False, stdin=in_r)
            os.close(in_r)
        else:
            p = _child(req_.root, x, False)
        x["Running"], x["Pid"] = True, p.pid
        done = threading.Event()
        feeder = _client_input(req_.handler, in_w, False, done) if in_w is not None else None
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ, 1)
        sel.register(p.stderr, selectors.EVENT_READ, 2)
        open_ = 2
        client = True
        while open_:
            for key, _ in sel.select(0.5):
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_ -= 1
                    continue
                want = x["OpenStdout"] if key.data == 1 else x["OpenStderr"]
                if client and want:
                    client = write(struct.pack(">BxxxL", key.data, len(data)) + data)
        sel.close()
        x["ExitCode"] = p.wait()
        x["Running"] = False
        _stop_input(req_.handler, feeder, done)

    def _run_tty(req_, write):
        master, slave = os.openpty()
        os.set_inheritable(master, False)
        try:
            _tty.setraw(slave)
            with _lock:  # a resize from now on goes to the master; one before is in size
                x["master"] = master
                if x["size"]:
                    _set_size(master, x["size"])
            p = _child(req_.root, x, False, stdin=slave, stdout=slave, stderr=slave)
        except BaseException:
            with _lock:
                x["master"] = None
            os.close(master)
            raise
        finally:
            os.close(slave)
        x["Running"], x["Pid"] = True, p.pid
        done = threading.Event()
        feeder = _client_input(req_.handler, master, True, done) if x["OpenStdin"] else None
        client = True
        try:
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the child and its helper, the slave's last users, are gone
                    data = b""
                if not data:
                    break
                if client and x["OpenStdout"]:
                    client = write(data)
            x["ExitCode"] = p.wait()
        finally:
            x["Running"] = False
            with _lock:
                x["master"] = None
            _stop_input(req_.handler, feeder, done)
            os.close(master)
    return Hijack(run, "application/vnd.docker.raw-stream" if x["Tty"] else
                  "application/vnd.docker.multiplexed-stream")


def _stop_input(handler, feeder, done: threading.Event) -> None:
    if feeder is None:
        return
    done.set()
    try:
        handler.connection.shutdown(socket.SHUT_RD)  # wakes the feeder's read
    except OSError:
        pass
    feeder.join(5)


def resize(req):
    """The exec's terminal size: TIOCSWINSZ on the service's master (the child passes
    it on to the container's terminal); before the start, kept for it."""
    x = _get(req.params["id"])
    h, w = qint(req.query, "h", 0), qint(req.query, "w", 0)
    if not (0 <= h <= 0xFFFF and 0 <= w <= 0xFFFF):
        raise ApiError(400, f"invalid terminal size: {h}x{w}")
    if not x["Tty"]:
        return Response(200, None)  # (docker: 200, no body)
    with _lock:
        x["size"] = (h, w)
        if x["master"] is not None:
            _set_size(x["master"], (h, w))
    return Response(200, None)  # (docker: 200, no body)


def inspect(req):
    x = _get(req.params["id"])
    return {"ID": x["ID"], "Running": x["Running"], "ExitCode": x["ExitCode"], "ProcessConfig": {
        "privileged": x["Privileged"], "user": x["User"], "tty": x["Tty"], "entrypoint": x["Cmd"][0],
        "arguments": x["Cmd"][1:]}, "OpenStdin": x["OpenStdin"], "OpenStderr": x["OpenStderr"],
        "OpenStdout": x["OpenStdout"], "CanRemove": False, "ContainerID": x["ContainerID"],
        "DetachKeys": "", "Pid": x["Pid"]}


def register(r) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("POST", "/exec/{id}/resize", resize)
    r.add("GET", "/exec/{id}/json", inspect)


def _main(arg: str) -> int:
    """The child: Engine.exec with this process's streams (the service's pipes)."""
    from dunnage.core import Engine, EngineError
    a = json.loads(arg)
    if a.get("tty"):
        # the pty on 0 becomes our controlling terminal (we lead a session of our own),
        # so its resizes reach run_exec as SIGWINCH
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        return Engine(a["root"]).exec(a["container"], a["argv"], user=a["user"], workdir=a["workdir"],
                                      env=a["env"], detach=a["detach"], tty=bool(a.get("tty")),
                                      interactive=bool(a.get("interactive")))
    except EngineError as err:
        print(str(err), file=sys.stderr)
        return err.code


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
