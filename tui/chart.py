"""The dashboard's live charts: a sparkline drawn straight into strips.

textual's Sparkline draws through rich's renderable pipeline, one segment and
one colour blend per cell, on every change: with the selected container's
history moving each second that was a third of the dashboard's own CPU.  This
one draws the same picture (the same buckets, bars and colours, and the same
component classes for styling) once per change of data, size or colours, with
runs of equal cells joined into one segment."""
from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.renderables._blend_colors import blend_colors
from textual.strip import Strip
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"


def columns(data: list[float], width: int) -> list[float]:
    """DATA summarised into WIDTH columns exactly as textual's Sparkline does: the
    largest value of each of WIDTH buckets, or, with fewer values than columns,
    each value spread over several (its float stepping included)."""
    n = len(data)
    buckets = [max(data[x * n // width:(x + 1) * n // width]) for x in range(width)] if n >= width else data
    step, at, out = len(buckets) / width, 0.0, []
    for _ in range(width):
        out.append(buckets[int(at)])
        at += step
    return out


class Chart(Sparkline):
    """A Sparkline (bars summarised by max) that draws itself only when it changed."""

    _version = 0
    _drawn: tuple | None = None
    _lines: list[Strip] = []

    def watch_data(self) -> None:
        self._version += 1

    def _colors(self):
        _, base = self.background_colors
        lo = base + (self.get_component_styles("sparkline--min-color").color
                     if self.min_color is None else self.min_color)
        hi = base + (self.get_component_styles("sparkline--max-color").color
                     if self.max_color is None else self.max_color)
        return lo.rich_color, hi.rich_color

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        base = self.visual_style.rich_style
        lo, hi = self._colors()
        key = (self._version, width, height, lo, hi, base)
        if key != self._drawn:
            self._lines = [Strip(line).apply_style(base) for line in self._draw(width, height, lo, hi)]
            self._drawn = key
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(width, base)

    def _draw(self, width: int, height: int, lo, hi) -> list[list[Segment]]:
        data = list(self.data or [])
        if width <= 0 or height <= 0:
            return []
        if not data:
            return [[Segment(" " * width)] for _ in range(height - 1)] + [[Segment("▁" * width, Style(color=lo))]]
        if len(data) == 1:
            return [[Segment("█" * width, Style(color=hi))] for _ in range(height)]
        low, top = min(data), max(data)
        extent = (top - low) or 1
        steps = len(BARS) * height - 1
        bars = []
        for v in columns(data, width):
            ratio = (v - low) / extent
            bars.append((int(ratio * steps), Style(color=blend_colors(lo, hi, ratio))))
        lines = []
        for level in reversed(range(height)):
            floor, ceil = level * len(BARS), (level + 1) * len(BARS)
            segs: list[Segment] = []
            run, run_style = [], None
            for index, style in bars:
                if index < floor:
                    ch, st = " ", None
                elif index >= ceil:
                    ch, st = "█", style
                else:
                    ch, st = BARS[index % len(BARS)], style
                if st != run_style and run:
                    segs.append(Segment("".join(run), run_style))
                    run = []
                run.append(ch)
                run_style = st
            if run:
                segs.append(Segment("".join(run), run_style))
            lines.append(segs)
        return lines
