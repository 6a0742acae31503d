"""The dashboard's charts, pure logic: scales, ticks, the time axis, the columns
and the drawn picture.  They run as any user, with no container."""
from __future__ import annotations

from collections import deque

import pytest
from rich.color import Color
from rich.style import Style

from dunnage.tui.app import HISTORY, Row
from dunnage.tui.chart import (BARS, Chart, Scale, auto_top, columns, eighths, fmt, nice_ceiling, ticks,
                               time_labels)
from dunnage.tui.page import cpu_ceiling, cpu_chart, mem_chart, page_charts

STYLES = (Color.from_rgb(0, 200, 0), Color.from_rgb(200, 0, 0), Style(), Style(), Style(), Style())


def plot(chart: Chart, width: int, height: int) -> list[str]:
    """The plot's rows as text, without the title, the time axis and the y axis."""
    lines = ["".join(s.text for s in segs) for segs in chart.draw(width, height, STYLES)]
    rows = lines[1:-1] if height - 1 >= 3 else lines[1:]
    out = []
    for row in rows:
        cut = max(row.find("┤"), row.find("│"))
        out.append(row[cut + 1:] if cut >= 0 else row)
    return out


def test_nice_ceiling_is_the_least_1_2_5_step_at_or_over():
    assert [nice_ceiling(x) for x in (0.3, 1, 1.01, 2, 2.5, 5, 6, 10, 99, 101, 1234, 0.07)] == \
        [0.5, 1, 2, 2, 5, 5, 10, 10, 100, 200, 2000, 0.1]
    for x in (1e-6, 0.123, 7.77, 1e3, 1024, 3.3e9, 9.999e11):
        top = nice_ceiling(x)
        assert top >= x and f"{top:e}"[0] in "125" and float(f"{top:e}"[0]) == float(f"{top:e}".split("e")[0])
        assert nice_ceiling(top) == top


@pytest.mark.parametrize("v", [1, 2, 3, 4, 5, 7.5, 10, 320 * 1024, 999, 1e6])
def test_a_flat_series_without_a_limit_is_never_drawn_full(v):
    top = auto_top([v] * 30)
    assert 0.3 <= v / top <= 0.8  # visible, below the top, on a nice number
    assert nice_ceiling(top) == top
    chart = Chart()
    chart.show([v] * 30, Scale(top, "", False), "flat", slots=30)  # samples in every column
    drawn = plot(chart, 40, 8)
    assert all(len(set(r)) == 1 for r in drawn), drawn  # flat: every column the same
    assert drawn[0].strip() == "" and any("█" in r or set(r) & set(BARS) for r in drawn)


def test_idle_series_keep_their_floor_and_gaps_are_blank():
    assert auto_top([0, 0, None], 1e3) == 1e3 and auto_top([], 1) == 1
    assert auto_top([None, 3.0], 1) == 5
    assert eighths(None, 10, 2) == 0 and eighths(0, 10, 2) == 1  # a zero still shows its line
    assert eighths(10, 10, 2) == 16 and eighths(50, 10, 2) == 16 and eighths(5, 10, 2) == 8


def test_ticks_and_units():
    assert ticks(50, 4, "%") == {0: "50%", 2: "25%", 3: "0"}
    assert ticks(64 << 20, 5, "B") == {0: "64MiB", 2: "32MiB", 4: "0"}
    assert ticks(1e3, 2, "B/s") == {0: "1K/s", 1: "0"}
    assert ticks(5, 1, "") == {0: "5"} and ticks(5, 0, "") == {}
    assert [fmt(v, "B") for v in (0, 512, 1024, 1536, 23.5 * 2 ** 30)] == ["0", "512B", "1KiB", "1.5KiB", "23.5GiB"]
    assert [fmt(v, "%") for v in (200, 12.5, 66.666)] == ["200%", "12.5%", "66.7%"]
    assert [fmt(v, "B/s") for v in (500, 2500, 1e6, 2.5e9)] == ["500B/s", "2.5K/s", "1M/s", "2.5G/s"]


def test_time_axis():
    line = time_labels(60, 40)
    assert len(line) == 40 and line.startswith("-60s") and line.endswith("now") and "-30s" in line
    assert time_labels(18, 12) == "-18s     now"
    assert time_labels(600, 40).startswith("-10m")
    assert time_labels(60, 5) == "  now" and time_labels(60, 0) == ""


def test_columns_are_time_with_the_newest_at_the_right():
    assert columns([1, 2, 3], 6, 6) == [None, None, None, 1, 2, 3]
    assert columns([1, 2, 3, 4, 5, 6], 3, 6) == [2, 4, 6]            # the largest of each part
    assert columns([1, 2], 4, 2) == [1, 1, 2, 2]                     # a sample spread over columns
    assert columns([None, 1, None], 3, 3) == [None, 1, None]         # a gap stays a gap
    assert columns(list(range(100)), 5, 10) == [91, 93, 95, 97, 99]  # only the window's last samples
    assert len(columns(list(range(60)), 37, 60)) == 37


def test_a_limit_scale_draws_the_value_at_its_height_and_clamps():
    chart = Chart()
    chart.show([25.0] * 60, Scale(50, "%"), "half", slots=60)
    rows = plot(chart, 66, 6)  # 4 plot rows: half is two full rows
    assert [set(r) for r in rows] == [{" "}, {" "}, {"█"}, {"█"}]
    chart.show([80.0] * 60, Scale(50, "%"), "over")
    assert all(set(r) == {"█"} for r in plot(chart, 66, 6))


def test_a_note_replaces_the_bars():
    chart = Chart()
    chart.show([], None, "CPU %", note="not running")
    text = ["".join(s.text for s in segs) for segs in chart.draw(40, 8, STYLES)]
    assert text[0].startswith("CPU %") and any("not running" in t for t in text)
    assert not any(ch in t for t in text for ch in BARS)


def test_tiny_sizes_do_not_break():
    chart = Chart()
    chart.show([1, 2, 3], Scale(5, ""), "a long title that does not fit")
    for w in range(0, 12):
        for h in range(0, 5):
            lines = chart.draw(w, h, STYLES)
            assert len(lines) == (h if w else 0)
            assert all(sum(len(s.text) for s in segs) <= w for segs in lines)


def test_what_full_means():
    assert cpu_ceiling(0.5) == (0.5, "0.5 CPU limit")
    assert cpu_ceiling(0, "0-1,3") == (3, "cpuset of 3 cores")
    assert cpu_ceiling(0, None, host=2) == (2, "host's 2 cores")
    r = _row(state="running", cpu=49.0, cpu_cores=0.5, cpu_what="0.5 CPU limit", mem=312 << 10, mem_limit=64 << 20)
    r.cpu_hist.extend([None, 49.0, 50.0])
    r.mem_hist.extend([312 << 10] * 3)
    data, scale, title = cpu_chart(r)
    assert scale == Scale(50, "%") and title == "CPU 49.0% · full = 0.5 CPU limit" and data == [None, 49.0, 50.0]
    data, scale, title = mem_chart(r)
    assert scale == Scale(64 << 20, "B") and title == "MEM 312KiB · full = 64MiB limit"
    r.pids_hist.extend([2, 2, 2])
    r.pids = 2
    charts = page_charts(r)
    assert charts["pids"][1] == Scale(5, "", False) and charts["pids"][2] == "PIDS 2 · no limit"
    assert charts["net"][1] == Scale(1e3, "B/s", False)


def test_a_stopped_container_has_no_scale():
    r = _row(state="exited")
    r.cpu_hist.extend([10.0, 20.0])
    assert all(scale is None and data == [] for data, scale, _ in page_charts(r).values())


def _row(**kw) -> Row:
    r = Row("c" * 64, "name", "image", kw.pop("state"), "status")
    for k, v in kw.items():
        setattr(r, k, v)
    assert isinstance(r.cpu_hist, deque) and r.cpu_hist.maxlen == HISTORY
    return r
