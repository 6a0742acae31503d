"""Health checks, run by the shim inside the container (through `dunnage exec`),
with docker's states and rules: starting -> healthy | unhealthy; RETRIES
consecutive failures make it unhealthy; failures within the start period do
not count; the last five results are kept in State.Health.Log."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Optional

from . import events
from .images.store import now_iso

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
    def __init__(self, store, container, check: dict):
        self.store, self.c, self.check = store, container, check
        self.started = time.monotonic()
        self.due = self.started + check["Interval"] / NS
        self.proc: Optional[subprocess.Popen] = None
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
        if self.proc is not None:
            return max(0.0, self.proc_started + self.check["Timeout"] / NS - now)
        return max(0.0, self.due - now)

    def start(self) -> None:
        cmd = [sys.executable, "-m", "dunnage.tui.cli", "--root", str(self.store.root), "exec", self.c.id,
               *argv_of(self.check["Test"])]
        self.output = b""
        self.proc_start_iso = now_iso()
        self.proc_started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        os.set_blocking(self.proc.stdout.fileno(), False)

    def fileno(self) -> Optional[int]:
        return self.proc.stdout.fileno() if self.proc is not None else None

    def readable(self) -> bool:
        """Read what the check wrote; True once it finished writing."""
        try:
            data = os.read(self.proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return False
        if data:
            self.output = (self.output + data)[-4096:]
            return False
        return True

    def tick(self) -> None:
        """Called when timeout() ran out: start a check, or fail one that took too long."""
        if self.proc is None:
            self.start()
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.finish(timed_out=True)

    def finish(self, timed_out: bool = False) -> None:
        proc = self.proc
        code = proc.wait() if not timed_out else -1
        proc.stdout.close()
        self.proc = None
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

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
