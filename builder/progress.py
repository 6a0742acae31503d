"""What a build says as it goes: BuildKit's plain progress for the command line
(`#N [stage i/n] INSTR`, the step's output as `#N 0.123 line`, `#N CACHED`, `#N DONE 0.3s`)
and the classic builder's stream for the Engine API (`Step i/n : INSTR`, ` ---> id`), which
`docker build` without BuildKit and docker-py read."""
from __future__ import annotations

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
