"""What a build says as it goes: BuildKit's plain progress for the command line
(`#N [stage i/n] INSTR`, the step's output as `#N 0.123 line`, `#N CACHED`, `#N DONE 0.3s`),
its tty view on a terminal (a line per step redrawn in place, the running steps' last
output lines under them), and the classic builder's stream for the Engine API (`Step i/n : INSTR`, ` ---> id`), which
`docker build` without BuildKit and docker-py read."""
from __future__ import annotations

import shutil
import threading
import time
from typing import Callable


class Progress:
    """The events a build emits; this one says nothing (-q)."""

    def vertex(self, label: str) -> int:
        return 0

    def output(self, n: int, data: bytes) -> None:
        pass

    def cached(self, n: int) -> None:
        pass

    def done(self, n: int) -> None:
        pass

    def error(self, n: int, message: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def result(self, image_id: str, tags: list[str]) -> None:
        pass


class Plain(Progress):
    """BuildKit's --progress=plain, to WRITE (a function taking text)."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.n = 0
        self.started: dict[int, float] = {}
        self.partial: dict[int, bytes] = {}

    def vertex(self, label: str) -> int:
        self.n += 1
        self.started[self.n] = time.monotonic()
        self.write(f"#{self.n} {label}\n")
        return self.n

    def output(self, n: int, data: bytes) -> None:
        buf = self.partial.get(n, b"") + data
        *lines, rest = buf.split(b"\n")
        self.partial[n] = rest
        t = time.monotonic() - self.started.get(n, time.monotonic())
        for ln in lines:
            self.write(f"#{n} {t:.3f} {ln.decode('utf-8', 'replace')}\n")

    def _flush(self, n: int) -> None:
        rest = self.partial.pop(n, b"")
        if rest:
            self.output(n, rest + b"\n")
            self.partial.pop(n, None)

    def cached(self, n: int) -> None:
        self.write(f"#{n} CACHED\n\n")

    def done(self, n: int) -> None:
        self._flush(n)
        t = time.monotonic() - self.started.get(n, time.monotonic())
        self.write(f"#{n} DONE {t:.1f}s\n\n")

    def error(self, n: int, message: str) -> None:
        self._flush(n)
        self.write(f"#{n} ERROR: {message}\n\n")

    def note(self, text: str) -> None:
        self.write(text if text.endswith("\n") else text + "\n")

    def result(self, image_id: str, tags: list[str]) -> None:
        n = self.vertex("exporting to image")
        self.write(f"#{n} writing image {image_id} done\n")
        for t in tags:
            self.write(f"#{n} naming to {t} done\n")
        self.done(n)


class Classic(Progress):
    """The classic builder's text, each piece handed to EMIT (the API wraps it as {"stream": ...})."""

    def __init__(self, emit: Callable[[str], None], total: int = 0):
        self.emit = emit
        self.total = total
        self.step = 0

    def vertex(self, label: str) -> int:
        self.step += 1
        self.emit(f"Step {label}\n")
        return self.step

    def output(self, n: int, data: bytes) -> None:
        self.emit(data.decode("utf-8", "replace"))

    def cached(self, n: int) -> None:
        self.emit(" ---> Using cache\n")

    def done(self, n: int) -> None:
        pass

    def error(self, n: int, message: str) -> None:
        pass

    def note(self, text: str) -> None:
        self.emit(text if text.endswith("\n") else text + "\n")

    def result(self, image_id: str, tags: list[str]) -> None:
        self.emit(f"Successfully built {image_id[7:19]}\n")
        for t in tags:
            self.emit(f"Successfully tagged {t}\n")


class Tty(Progress):
    """BuildKit's --progress=tty: the steps as lines redrawn in place (ANSI), each running
    one with its last output lines; what is left at the end is the finished list."""

    TAIL = 6

    def __init__(self, write: Callable[[str], None], width: Callable[[], int] = lambda: shutil.get_terminal_size().columns):
        self.write, self.width = write, width
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.steps: list[dict] = []
        self.drawn = 0
        self.last = 0.0
        self.notes: list[str] = []
        self.finished = False

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.1:
            return
        self.last = now
        w = max(20, self.width())
        done = sum(1 for s in self.steps if s["state"] != "running")
        lines = [f"[+] Building {now - self.t0:.1f}s ({done}/{len(self.steps)})"
                 + (" FINISHED" if self.finished else "")]
        for s in self.steps:
            t = (s["end"] or now) - s["start"]
            tail = {"cached": "CACHED", "error": "ERROR"}.get(s["state"], f"{t:.1f}s")
            lines.append(f" => {s['label']}"[:w - len(tail) - 1].ljust(w - len(tail) - 1) + " " + tail)
            if s["state"] in ("running", "error"):
                lines += [f" => => # {ln}"[:w] for ln in s["out"][-self.TAIL:]]
        out = (f"\x1b[{self.drawn}F" if self.drawn else "") + "\x1b[J" + "".join(n + "\n" for n in self.notes)
        self.notes = []
        self.write(out + "\n".join(lines) + "\n")
        self.drawn = len(lines)

    def vertex(self, label: str) -> int:
        with self.lock:
            self.steps.append({"label": label, "state": "running", "start": time.monotonic(), "end": None, "out": [],
                               "partial": b""})
            self._draw()
            return len(self.steps)

    def output(self, n: int, data: bytes) -> None:
        with self.lock:
            s = self.steps[n - 1]
            *lines, s["partial"] = (s["partial"] + data).split(b"\n")
            s["out"] = (s["out"] + [ln.decode("utf-8", "replace").replace("\r", "") for ln in lines])[-self.TAIL:]
            self._draw()

    def _end(self, n: int, state: str) -> None:
        with self.lock:
            s = self.steps[n - 1]
            s["state"], s["end"] = state, time.monotonic()
            if s["partial"]:
                s["out"] = (s["out"] + [s["partial"].decode("utf-8", "replace")])[-self.TAIL:]
                s["partial"] = b""
            self._draw(force=True)

    def cached(self, n: int) -> None:
        self._end(n, "cached")

    def done(self, n: int) -> None:
        self._end(n, "done")

    def error(self, n: int, message: str) -> None:
        self.steps[n - 1]["out"].append(f"ERROR: {message}")
        self._end(n, "error")

    def note(self, text: str) -> None:
        with self.lock:
            self.notes.append(text.rstrip("\n"))
            self._draw(force=True)

    def result(self, image_id: str, tags: list[str]) -> None:
        n = self.vertex("exporting to image")
        for t in [f"writing image {image_id}"] + [f"naming to {t}" for t in tags]:
            self.output(n, (t + "\n").encode())
        self.finished = True
        self.done(n)
