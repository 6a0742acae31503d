"""Exec endpoints: create, start (detached, or attached on the hijacked connection,
non-tty: docker's multiplexed frames), json.

Exec instances are the service's own state, as they are dockerd's (gone with it).
The process runs through Engine.exec in a child of the service whose standard
streams are pipes: run_exec relays the process's streams to its caller's own, and
the service's are not a client's."""
from __future__ import annotations

import json
import os
import secrets
import selectors
import struct
import subprocess
import sys
import threading

from .errors import ApiError, container_of, not_found
from .responses import Hijack, Response

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
    if body.get("Tty"):
        raise ApiError(501, "exec with a tty through the API is not served yet")
    if c.status == "paused":
        raise ApiError(409, f"Container {c.id} is paused, unpause the container before exec")
    if not c.running():
        raise ApiError(409, f"Container {c.id} is not running")
    xid = secrets.token_hex(32)
    x = {"ID": xid, "ContainerID": c.id, "Cmd": cmd, "User": body.get("User") or "",
         "WorkingDir": body.get("WorkingDir") or "", "Env": list(body.get("Env") or []),
         "Privileged": bool(body.get("Privileged")), "OpenStdin": bool(body.get("AttachStdin")),
         "OpenStdout": bool(body.get("AttachStdout")), "OpenStderr": bool(body.get("AttachStderr")),
         "Running": False, "ExitCode": None, "Pid": 0, "started": False}
    with _lock:
        _execs[xid] = x
    return Response(201, {"Id": xid})


def _child(root, x: dict, detach: bool) -> subprocess.Popen:
    args = {"root": str(root), "container": x["ContainerID"], "argv": x["Cmd"], "user": x["User"] or None,
            "workdir": x["WorkingDir"] or None, "env": x["Env"], "detach": detach}
    return subprocess.Popen([sys.executable, "-m", "dunnage.api.exec", json.dumps(args)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def start(req):
    x = _get(req.params["id"])
    body = req.json({}) or {}
    if not isinstance(body, dict):
        raise ApiError(400, "invalid exec start request: a JSON object expected")
    if body.get("Tty"):
        raise ApiError(501, "exec with a tty through the API is not served yet")
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
        p = _child(req_.root, x, False)
        x["Running"], x["Pid"] = True, p.pid
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
    return Hijack(run)


def inspect(req):
    x = _get(req.params["id"])
    return {"ID": x["ID"], "Running": x["Running"], "ExitCode": x["ExitCode"], "ProcessConfig": {
        "privileged": x["Privileged"], "user": x["User"], "tty": False, "entrypoint": x["Cmd"][0],
        "arguments": x["Cmd"][1:]}, "OpenStdin": x["OpenStdin"], "OpenStderr": x["OpenStderr"],
        "OpenStdout": x["OpenStdout"], "CanRemove": False, "ContainerID": x["ContainerID"],
        "DetachKeys": "", "Pid": x["Pid"]}


def register(r) -> None:
    r.add("POST", "/containers/{id}/exec", create)
    r.add("POST", "/exec/{id}/start", start)
    r.add("GET", "/exec/{id}/json", inspect)


def _main(arg: str) -> int:
    """The child: Engine.exec with this process's streams (the service's pipes)."""
    from dunnage.core import Engine, EngineError
    a = json.loads(arg)
    try:
        return Engine(a["root"]).exec(a["container"], a["argv"], user=a["user"], workdir=a["workdir"],
                                      env=a["env"], detach=a["detach"])
    except EngineError as err:
        print(str(err), file=sys.stderr)
        return err.code


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1]))
