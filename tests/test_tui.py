"""The dashboard, driven with Textual's pilot and in tmux, against real containers."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
from textual.widgets import DataTable

from dunnage.tui.app import ConfirmScreen, DunnageApp, HelpScreen

from conftest import Tmux, dunnage_cmd, wait_for

pytestmark = pytest.mark.timeout(120)


async def until(pilot, pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.1)
    raise AssertionError("the dashboard did not get there in time")


async def test_dashboard_shows_live_containers_and_acts_on_them(engine, image):
    busy = engine.run(image, ["sh", "-c", "while :; do :; done"], name="tui-busy", detach=True, cpus="0.5")
    idle = engine.run(image, ["sleep", "300"], name="tui-idle", detach=True, memory="32m")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.rounds >= 4)
        table = app.query_one("#containers", DataTable)
        assert busy.id in table.rows and idle.id in table.rows
        assert app.rows[busy.id].cpu > 5.0                # live from the cgroup
        assert app.rows[idle.id].mem_limit == 32 << 20
        assert str(table.get_cell(idle.id, "mem")).endswith("/ 32MiB")
        assert table.get_cell(busy.id, "pids") == "1"
        # the detail panel follows the selection, with the convention shown
        table.move_cursor(row=table.get_row_index(busy.id))
        await pilot.pause(0.1)
        label = str(app.query_one("#cpu-label").render())
        assert "100% = 1 core" in label
        assert app.query_one("#detail").border_title == "tui-busy"
        await until(pilot, lambda: len(app.rows[busy.id].cpu_hist) >= 2)

        # pause and unpause, stop, start, remove from the keyboard
        table.move_cursor(row=table.get_row_index(busy.id))
        await pilot.press("p")
        await until(pilot, lambda: engine.container(busy.id).status == "paused")
        await until(pilot, lambda: app.rows[busy.id].state == "paused")
        await pilot.press("p")
        await until(pilot, lambda: engine.container(busy.id).status == "running")
        table.move_cursor(row=table.get_row_index(idle.id))
        await pilot.press("x")
        await until(pilot, lambda: engine.container(idle.id).status == "exited")
        await until(pilot, lambda: app.rows[idle.id].state == "exited")
        await pilot.press("s")
        await until(pilot, lambda: engine.container(idle.id).status == "running")
        await until(pilot, lambda: app.rows[idle.id].state == "running")
        table.move_cursor(row=table.get_row_index(idle.id))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # running: asks first, and "no" keeps it
        await pilot.pause(0.3)
        assert engine.container(idle.id).status == "running"
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: idle.id not in app.rows)
        assert all(c.id != idle.id for c in engine.containers(all_=True))

        # a change made by another front shows up through the events log
        other = subprocess.run([sys.executable, "-m", "dunnage.tui.cli", "--root", str(engine.store.root),
                                "run", "-d", "--name", "tui-other", image, "sleep", "300"],
                               capture_output=True, timeout=60)
        assert other.returncode == 0, other.stderr
        await until(pilot, lambda: any(r.name == "tui-other" for r in app.rows.values()))

        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await pilot.press("q")
    assert app.return_code in (0, None)


async def test_dashboard_with_no_containers(tmp_path):
    from dunnage.core import Engine
    e = Engine(str(tmp_path / "root"))
    app = DunnageApp(e, interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.rounds >= 2)
        assert app.query_one("#containers", DataTable).row_count == 0
        await pilot.press("x", "d", "s")  # nothing selected: nothing happens, nothing breaks
        await pilot.pause(0.2)
        await pilot.press("q")


def test_dashboard_in_tmux_as_a_person_would(engine, image):
    engine.run(image, ["sleep", "300"], name="tmux-box", detach=True, memory="48m")
    with Tmux(dunnage_cmd(engine.store.root), 80, 24) as t:
        wait_for(lambda: all(x in t.screen() for x in ("tmux-box", "48MiB", "NAME", "CPU %", "q quit")), timeout=20)
        t.keys("?")
        wait_for(lambda: "dunnage: keys" in t.screen(), timeout=10)
        t.keys("Escape")
        wait_for(lambda: "dunnage: keys" not in t.screen(), timeout=10)
        # e: a shell inside the selected container, then back to the dashboard
        t.keys("e")
        wait_for(lambda: "/ #" in t.screen(), timeout=20)
        t.keys("echo inside-$((6*7))", "Enter")
        wait_for(lambda: "inside-42" in t.screen(), timeout=10)
        t.keys("exit", "Enter")
        wait_for(lambda: "tmux-box" in t.screen() and "q quit" in t.screen(), timeout=20)
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)


async def test_sort_and_filter(engine, image):
    a = engine.run(image, ["sh", "-c", "while :; do :; done"], name="zz-busy", detach=True, cpus="0.5")
    b = engine.run(image, ["sleep", "300"], name="aa-idle", detach=True)
    c = engine.run(image, ["true"], name="mm-done", detach=True)
    engine.wait(c.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.rounds >= 3 and app.rows.get(a.id) and app.rows[a.id].cpu > 1)
        table = app.query_one("#containers", DataTable)

        def order():  # as displayed
            return [row.key.value for row in table.ordered_rows]
        assert order().index(b.id) < order().index(c.id) < order().index(a.id)  # by name
        await pilot.press("o")  # by CPU, busiest first
        await until(pilot, lambda: order()[0] == a.id)
        assert "sort cpu" in app.sub_title
        await pilot.press("slash")
        await pilot.press(*"exited", "enter")
        await until(pilot, lambda: order() == [c.id])
        await pilot.press("escape")
        await until(pilot, lambda: set(order()) >= {a.id, b.id, c.id})
        await pilot.press("slash")
        await pilot.press(*"aa-", "enter")
        await until(pilot, lambda: order() == [b.id])
        await pilot.press("escape", "q")


async def test_logs_view_follows(engine, image):
    from textual.widgets import RichLog
    from dunnage.tui.app import LogsScreen
    c = engine.run(image, ["sh", "-c", "echo out-1; echo err-1 >&2; sleep 1; echo out-2; sleep 300"],
                   name="logview", detach=True)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        table = app.query_one("#containers", DataTable)
        table.move_cursor(row=table.get_row_index(c.id))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        scr = app.screen
        await until(pilot, lambda: [r[2] for r in scr.records] == [b"out-1\n", b"err-1\n", b"out-2\n"])
        log = scr.query_one("#log", RichLog)
        assert any("out-2" in line.text for line in log.lines)
        await pilot.press("t")
        await pilot.pause(0.2)
        assert any(line.text.endswith("Z out-1") for line in log.lines)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogsScreen))
        await pilot.press("q")
