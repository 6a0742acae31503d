"""Health checks, run by the shim inside the container through the runtime's own exec
(runtime/exec.py, in a child forked from the shim: no new interpreter), with docker's
states and rules: starting -> healthy | unhealthy; RETRIES
consecutive failures make it unhealthy; failures within the start period do
not count; the last five results are kept in State.Health.Log."""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from typing import Optional

from . import events
from .images.store import now_iso
from .runtime.exec import exec_spec, run_exec
from .runtime.users import UserError

NS = 1_000_000_000
DEFAULTS = {"Interval": 30 * NS, "Timeout": 30 * NS, "StartPeriod": 0, "Retries": 3}


def effective(hc: Optional[dict]) -> Optional[dict]:
    """The check to run, or None (no check, or Test ["NONE"])."""
    if not hc or not hc.get("Test") or hc["Test"][0] == "NONE":
        return None
    out = dict(DEFAULTS)
    out.update({k: v for k, v in hc.items() if v})
    return out


def argv_of(test: list[str]) -> list[str]:
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    if test[0] == "CMD":
        return list(test[1:])
    return ["/bin/sh", "-c", " ".join(test)]


class HealthChecker:
    def __init__(self, store, container, check: dict, cgroup):
        self.store, self.c, self.check, self.cgroup = store, container, check, cgroup
        self.started = time.monotonic()
        self.due = self.started + check["Interval"] / NS
        self.spec = exec_spec(container.config, argv_of(check["Test"]))
        self.pid: Optional[int] = None  # the running check's (run_check)
        self.out: Optional[int] = None  # ... and its output
        self.proc_started = 0.0
        self.proc_start_iso = ""
        self.output = b""
        self.streak = 0
        self.status = "starting"
        self.log: list = []
        self.c.save_state(Health={"Status": "starting", "FailingStreak": 0, "Log": []})

    def timeout(self) -> float:
        """Seconds until something is due (a check to start or to time out)."""
        now = time.monotonic()
        if self.pid is not None:
            return max(0.0, self.proc_started + self.check["Timeout"] / NS - now)
        return max(0.0, self.due - now)

    def start(self) -> None:
        self.output = b""
        self.proc_start_iso = now_iso()
        self.proc_started = time.monotonic()
        events.emit(self.store, "container", "exec_start: " + " ".join(self.spec.argv), self.c.id,
                    {"name": self.c.name})
        r, w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            code = 126
            try:
                code = run_check(self.c, self.cgroup, self.spec, w)
            except BaseException:  # noqa: BLE001
                traceback.print_exc()
            finally:
                os._exit(code)
        os.close(w)
        os.set_blocking(r, False)
        self.pid, self.out = pid, r

    def fileno(self) -> Optional[int]:
        return self.out

    def readable(self) -> bool:
        """Read what the check wrote; True once it finished writing."""
        try:
            data = os.read(self.out, 65536)
        except BlockingIOError:
            return False
        if data:
            self.output = (self.output + data)[-4096:]
            return False
        return True

    def tick(self) -> None:
        """Called when timeout() ran out: start a check, or fail one that took too long."""
        if self.pid is None:
            self.start()
            return
        self.finish(timed_out=True)

    def finish(self, timed_out: bool = False) -> None:
        status = self.end(kill=timed_out)
        code = -1 if timed_out else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
        self.due = time.monotonic() + self.check["Interval"] / NS
        out = self.output.decode(errors="replace")
        if timed_out:
            out = f"Health check exceeded timeout ({self.check['Timeout'] / NS:g}s)"
        self.log = (self.log + [{"Start": self.proc_start_iso, "End": now_iso(), "ExitCode": code,
                                 "Output": out}])[-5:]
        in_start_period = time.monotonic() - self.started < self.check["StartPeriod"] / NS
        old = self.status
        if code == 0:
            self.streak = 0
            self.status = "healthy"
        elif not in_start_period:
            self.streak += 1
            if self.streak >= self.check["Retries"]:
                self.status = "unhealthy"
        self.c.save_state(Health={"Status": self.status, "FailingStreak": self.streak, "Log": self.log})
        if self.status != old:
            events.emit(self.store, "container", f"health_status: {self.status}", self.c.id, {"name": self.c.name})

    def end(self, kill: bool) -> int:
        """Reap the running check (killed first if KILL); its wait status."""
        if kill:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.out)
        self.pid = self.out = None
        return status

    def close(self) -> None:
        if self.pid is not None:
            self.end(kill=True)


def run_check(c, cgroup, spec, out_w: int) -> int:
    """In a child of the shim: run SPEC (a ProcessSpec) in C as `docker exec` does, its
    output to OUT_W; returns its exit code (docker's 126/127 with the reason in the
    output if it could not run)."""
    nul = os.open("/dev/null", os.O_RDONLY)
    os.dup2(nul, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # nothing of the shim's: its clients, pipes, sockets
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    if c.reload().status == "paused":  # (joining its frozen group would wait for the thaw)
        print(f"Error: container {c.id} is paused, unpause the container before exec", file=sys.stderr)
        return 1
    try:
        code, msg = run_exec(c.state["Pid"], cgroup, spec)
    except UserError as e:
        code, msg = 126, str(e)
    if msg:
        print(msg, file=sys.stderr)
    return code
