"""The dashboard's live charts: bars on an honest scale, with a y axis in units,
a time axis and a title that says what the top of the chart means.

A chart is given its scale: 0..limit where there is one (CPU against its limit
or the host's cores, memory against its limit or the host's memory), otherwise
0..a "nice" number (1, 2 or 5 × 10^n) with headroom above the largest value, so
a flat series draws flat and never as a full block.  Columns are time: the
window is the history's length at the sampling interval, newest at the right,
and what was not sampled (before the first sample, while stopped) is left blank.

It draws into strips once per change of data, size or colours (textual's
Sparkline drew through rich's pipeline one cell at a time on every change: a
third of the dashboard's CPU), runs of equal cells joined into one segment, and
the title is drawn by the chart itself, so a changing figure repaints the chart
without laying the screen out again."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

from rich.segment import Segment
from rich.style import Style
from textual.renderables._blend_colors import blend_colors
from textual.strip import Strip
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"  # 1 to 8 eighths of a row
HEADROOM = 1.25    # an automatic scale's top is at least this times the largest value


def nice_ceiling(x: float) -> float:
    """The least of 1, 2, 5 × 10^n that is >= X (X > 0)."""
    if x <= 0 or not math.isfinite(x):
        return 1.0
    exp = math.floor(math.log10(x))
    for n in (exp - 1, exp, exp + 1):  # log10 can land a hair either side of a power of ten
        for m in (1, 2, 5):
            v = m * 10.0 ** n
            if v >= x * (1 - 1e-12):
                return float(f"{v:.12g}")
    return 10.0 ** (exp + 1)


def auto_top(values: Sequence[Optional[float]], floor: float = 1.0) -> float:
    """The top of a scale without a limit: a nice number with headroom over the
    largest value (so a constant series sits at or below 4/5 of the height), and
    at least FLOOR (so an idle series is not magnified into a wall)."""
    top = max((v for v in values if v is not None), default=0.0)
    return max(floor, nice_ceiling(top * HEADROOM)) if top > 0 else floor


def _num(v: float) -> str:
    """A short number: 25, 12.5, 66.7, 1000."""
    if v >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.3g}"


def fmt(v: float, unit: str) -> str:
    """A value for an axis: '50%', '32MiB', '5K/s', '2'; 0 as '0'."""
    if v == 0:
        return "0"
    if unit == "%":
        return _num(v) + "%"
    if unit == "B":
        for i, u in enumerate(("B", "KiB", "MiB", "GiB", "TiB")):
            if v < 1024 or u == "TiB":
                return _num(v) + u if i else f"{v:.0f}B"
            v /= 1024
    if unit == "B/s":
        for u, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
            if v >= div:
                return _num(v / div) + u + "/s"
        return _num(v) + "B/s"
    return _num(v)


def ticks(top: float, rows: int, unit: str) -> dict[int, str]:
    """Labels of the y axis by row from the top: the top row is the scale's top,
    the bottom row 0, and with four rows or more the row that holds half."""
    if rows <= 0:
        return {}
    out = {0: fmt(top, unit)}
    if rows >= 2:
        out[rows - 1] = "0"
    if rows >= 4:
        out[rows // 2] = fmt(top / 2, unit)
    return out


def time_labels(window: float, width: int) -> str:
    """The time axis under WIDTH columns: '-60s' at the left, 'now' at the right,
    the middle when there is room."""
    def ago(s: float) -> str:
        return f"-{s / 60:g}m" if s >= 120 and s % 60 == 0 else f"-{s:.3g}s"
    left, right = ago(window), "now"
    if width < len(left) + len(right) + 1:
        return right.rjust(width)[:width]
    line = list(left + " " * (width - len(left) - len(right)) + right)
    mid = ago(window / 2)
    at = width // 2 - len(mid) // 2
    if width >= 3 * (len(left) + len(mid)) and at > len(left) + 1 and at + len(mid) < width - len(right) - 1:
        line[at:at + len(mid)] = mid
    return "".join(line)


def columns(data: Sequence[Optional[float]], width: int, slots: int) -> list[Optional[float]]:
    """DATA (oldest first, the newest last) as WIDTH columns of a window of SLOTS
    samples, the newest at the right: each column the largest sample of its part
    of the window, None where nothing was sampled."""
    if width <= 0:
        return []
    data = list(data)[-slots:] if slots else list(data)
    slots = max(slots, len(data), 1)
    padded = [None] * (slots - len(data)) + data
    out: list[Optional[float]] = []
    for c in range(width):
        lo, hi = c * slots // width, max((c + 1) * slots // width, c * slots // width + 1)
        present = [v for v in padded[lo:hi] if v is not None]
        out.append(max(present) if present else None)
    return out


def eighths(v: Optional[float], top: float, rows: int) -> int:
    """How many eighths of a row a value's bar fills: at least one for any sample
    (a zero still shows where the line is), all of them at or over the top."""
    if v is None:
        return 0
    full = 8 * rows
    return max(1, min(full, round(v / top * full))) if top > 0 else 1


@dataclass(frozen=True)
class Scale:
    """0..TOP in UNIT ('%', 'B', 'B/s' or '' for a count); LIMIT: the top is a
    limit (bars near it turn the high colour), not a scale chosen to fit."""
    top: float
    unit: str = ""
    limit: bool = True


class Chart(Widget):
    """A titled bar chart of one series against an explicit scale, with axes."""

    COMPONENT_CLASSES = {"chart--low", "chart--high", "chart--axis", "chart--title", "chart--alert",
                         "chart--note"}
    DEFAULT_CSS = """
    Chart {
        height: 1fr;
    }
    Chart > .chart--low {
        color: $primary;
    }
    Chart > .chart--high {
        color: $error;
    }
    Chart > .chart--axis {
        color: $text-muted;
    }
    Chart > .chart--title {
        text-style: bold;
    }
    Chart > .chart--alert {
        color: $error;
        text-style: bold;
    }
    Chart > .chart--note {
        color: $text-muted;
        text-style: italic;
    }
    """

    def __init__(self, title: str = "", slots: int = 60, window: float = 60.0, **kw):
        super().__init__(**kw)
        self.title = title
        self.slots, self.window = slots, window
        self.data: tuple = ()
        self.scale: Optional[Scale] = None
        self.note = ""       # drawn across the plot instead of bars: "not running"
        self.alert = False   # the title in the alert colour (OOM kills)
        self._version = 0
        self._drawn: tuple | None = None
        self._lines: list[Strip] = []
        self._palette: tuple | None = None

    def show(self, data: Sequence[Optional[float]], scale: Optional[Scale], title: str, note: str = "",
             alert: bool = False, slots: Optional[int] = None, window: Optional[float] = None) -> None:
        """Set what is drawn: DATA against SCALE (None: no scale, nothing drawn)
        in a window of SLOTS samples over WINDOW seconds; NOTE across the plot
        instead of bars.  The chart is repainted only when something changed."""
        new = (tuple(data), scale, title, note, alert, slots or self.slots, window or self.window)
        if new != (self.data, self.scale, self.title, self.note, self.alert, self.slots, self.window):
            self.data, self.scale, self.title, self.note, self.alert, self.slots, self.window = new
            self._version += 1
            self.refresh()

    def render_lines(self, crop):
        self._palette = None  # the colours are looked up once a frame, not once a line
        return super().render_lines(crop)

    def _palette_now(self) -> tuple:
        if self._palette is None:
            _, base = self.background_colors
            lo = (base + self.get_component_styles("chart--low").color).rich_color
            hi = (base + self.get_component_styles("chart--high").color).rich_color
            self._palette = (lo, hi, self.get_component_rich_style("chart--axis", partial=True),
                            self.get_component_rich_style("chart--title", partial=True),
                            self.get_component_rich_style("chart--alert", partial=True),
                            self.get_component_rich_style("chart--note", partial=True))
        return self._palette

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        base = self.visual_style.rich_style
        styles = self._palette_now()
        key = (self._version, width, height, styles, base)
        if key != self._drawn:
            self._lines = [Strip(line).apply_style(base) for line in self.draw(width, height, styles)]
            self._drawn = key
        return self._lines[y] if 0 <= y < len(self._lines) else Strip.blank(width, base)

    def draw(self, width: int, height: int, styles: tuple) -> list[list[Segment]]:
        """The chart as HEIGHT lines of segments: the title, the plot with its y
        axis, the time axis; the axes go first when there is no room."""
        lo, hi, axis_style, title_style, alert_style, note_style = styles
        if width <= 0 or height <= 0:
            return []
        lines: list[list[Segment]] = [[Segment(_fit(self.title, width), alert_style if self.alert else title_style)]]
        rows = height - 1
        if rows <= 0:
            return lines
        with_time = rows >= 3
        rows -= with_time
        scale = self.scale
        labels = ticks(scale.top, rows, scale.unit) if scale and not self.note else {}
        label_w = max((len(t) for t in labels.values()), default=0)
        if width - label_w - 2 < 8:
            labels, label_w = {}, 0
        gutter = label_w + 2 if label_w else 0
        plot_w = width - gutter
        cols = columns(self.data, plot_w, self.slots) if scale and not self.note else [None] * plot_w
        top = scale.top if scale else 1.0
        bars = [eighths(v, top, rows) for v in cols]
        full = 8 * rows
        colour = {e: Style(color=blend_colors(lo, hi, e / full) if scale and scale.limit else lo)
                  for e in set(bars) if e}
        note_row = rows // 2
        for r in range(rows):
            segs: list[Segment] = []
            if gutter:
                mark = "┤" if r in labels else "│"
                segs.append(Segment(labels.get(r, "").rjust(label_w) + " " + mark, axis_style))
            if self.note and r == note_row:
                note = _fit(self.note, plot_w)
                left = (plot_w - len(note)) // 2
                segs += [Segment(" " * left), Segment(note, note_style), Segment(" " * (plot_w - left - len(note)))]
                lines.append(segs)
                continue
            floor = 8 * (rows - 1 - r)
            run, run_style = [], None
            for e in bars:
                n = e - floor
                ch, st = (" ", None) if n <= 0 else ("█" if n >= 8 else BARS[n - 1], colour[e])
                if st != run_style and run:
                    segs.append(Segment("".join(run), run_style))
                    run = []
                run.append(ch)
                run_style = st
            if run:
                segs.append(Segment("".join(run), run_style))
            lines.append(segs)
        if with_time:
            lines.append([Segment(" " * gutter + time_labels(self.window, plot_w), axis_style)])
        return lines


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"
