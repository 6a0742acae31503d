"""The dashboard, driven with Textual's pilot and in tmux, against real containers."""
from __future__ import annotations

import os

import subprocess
import time

import pytest
from textual.widgets import DataTable

from dunnage.tui.app import DunnageApp, HelpScreen
from dunnage.tui.views import ConfirmScreen

from conftest import DUNNAGE, Tmux, dunnage_cmd, wait_for

pytestmark = pytest.mark.timeout(120)


async def until(pilot, pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.1)
    raise AssertionError("the dashboard did not get there in time")


async def page_of(pilot, app, cid: str):
    """Container CID's page, opened from the list once its row is there."""
    from dunnage.tui.page import ContainerScreen
    await until(pilot, lambda: cid in app.rows)
    app.open_page(cid)
    await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
    return app.screen


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
        assert "full = 0.5 CPU limit" in app.query_one("#cpu-chart").title
        assert app.query_one("#detail").border_title.startswith("tui-busy ─ ")
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
        other = subprocess.run([DUNNAGE, "--root", str(engine.store.root),
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
    engine.run(image, ["sh", "-c", "for i in $(seq 1 500); do echo tick-$i; done; exec sleep 300"],
               name="tmux-box", detach=True, memory="48m")
    with Tmux(dunnage_cmd(engine.store.root), 80, 24) as t:
        wait_for(lambda: all(x in t.screen() for x in ("tmux-box", "48MiB", "NAME", "CPU %", "q quit")), timeout=20)
        t.keys("?")
        wait_for(lambda: "dunnage: keys" in t.screen(), timeout=10)
        t.keys("Escape")
        wait_for(lambda: "dunnage: keys" not in t.screen(), timeout=10)
        # l: the log, following its end; g to the top; / searches and jumps; t shows timestamps
        t.keys("l")
        wait_for(lambda: "tick-500" in t.screen() and "logs · tmux-box" in t.screen(), timeout=20)
        t.keys("g")
        wait_for(lambda: any(line.strip() == "tick-1" for line in t.screen().splitlines()), timeout=10)
        t.keys("/")
        wait_for(lambda: "search" in t.screen(), timeout=10)
        t.keys("tick-250$", "Enter")
        wait_for(lambda: "match 1 of 1" in t.screen() and "tick-250" in t.screen(), timeout=10)
        t.keys("t")
        wait_for(lambda: "Z tick-250" in t.screen(), timeout=10)
        t.keys("Escape")
        wait_for(lambda: "tmux-box" in t.screen() and "q quit" in t.screen(), timeout=20)
        # e: a shell inside the selected container, then back to the dashboard
        t.keys("e")
        wait_for(lambda: "/ #" in t.screen(), timeout=20)
        t.keys("echo inside-$((6*7))", "Enter")
        wait_for(lambda: "inside-42" in t.screen(), timeout=10)
        t.keys("exit", "Enter")
        wait_for(lambda: "tmux-box" in t.screen() and "q quit" in t.screen(), timeout=20)
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)


def test_dashboard_in_a_16_colour_terminal(engine, image):
    """Over SSH to an old terminal: TERM without 256 colours.  Every colour on the
    screen must be one of the 16, and the selected row must still stand out."""
    import re
    engine.run(image, ["sleep", "300"], name="sixteen-a", detach=True, network="none")
    engine.run(image, ["sleep", "300"], name="sixteen-b", detach=True, network="none")
    with Tmux("env TERM=xterm-16color COLORTERM= " + dunnage_cmd(engine.store.root), 80, 24) as t:
        wait_for(lambda: all(x in t.screen() for x in ("sixteen-a", "sixteen-b", "CPU %", "q quit")), timeout=20)
        shown = t.screen(escapes=True)
        params = [p for seq in re.findall(r"\x1b\[([0-9;]*)m", shown) for p in seq.split(";") if p]
        assert params, "no colours at all"
        allowed = {0, 1, 2, 3, 4, 7, 22, 23, 24, 27, 39, 49} | set(range(30, 38)) | set(range(40, 48)) | \
            set(range(90, 98)) | set(range(100, 108))
        # 38 and 48 (256 colours, RGB) are not among them
        assert {int(p) for p in params} <= allowed, sorted({int(p) for p in params} - allowed)

        def background(name):  # the last background colour set before the row's name
            line = next(x for x in shown.splitlines() if name in x)
            codes = re.findall(r"\x1b\[([0-9;]*)m", line[:line.index(name)])
            return [c for seq in codes for c in seq.split(";") if c in {"7"} or c.startswith(("4", "10"))][-1:]
        assert background("sixteen-a") != background("sixteen-b")  # the cursor's row stands out
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
        assert order().index(b.id) < order().index(a.id) < order().index(c.id)  # by name, the exited one below
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
        view = scr.view
        await until(pilot, lambda: (view.texts, list(view.streams)) == (["out-1", "err-1", "out-2"], [0, 1, 0]))
        await pilot.pause(0.1)
        shown = [view.render_line(y).text for y in range(view.size.height)]
        assert [x.rstrip() for x in shown[:3]] == ["out-1", "err-1", "out-2"]
        assert any(seg.style and seg.style.color and seg.style.color.name == "red"
                   for seg in view.render_line(1))  # stderr in red
        await pilot.press("t")
        await pilot.pause(0.2)
        assert view.render_line(0).text.rstrip().endswith("Z out-1")
        # search with a regex, step through the matches, save to a file
        async def ask(key, answer):
            await pilot.press(key)
            await until(pilot, lambda: app.screen.query("#answer"))
            app.screen.query_one("#answer").value = answer
            await pilot.press("enter")
        await ask("slash", "out-[0-9]")
        await until(pilot, lambda: scr.matches == [0, 2])
        assert scr.sub_title.endswith("match 1 of 2")
        await pilot.press("n")
        assert scr.sub_title.endswith("match 2 of 2")
        await pilot.press("N")
        assert scr.sub_title.endswith("match 1 of 2")
        await ask("slash", "(bad")
        await pilot.pause(0.1)
        assert scr.matches == [0, 2]  # a broken regex changes nothing
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            await ask("w", f"{d}/saved.log")
            await until(pilot, lambda: os.path.exists(f"{d}/saved.log"))
            saved = open(f"{d}/saved.log").read().splitlines()
            assert [x.split(" ", 1)[1] for x in saved] == ["out-1", "err-1", "out-2"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, LogsScreen))
        await pilot.press("q")


@pytest.mark.timeout(240)
async def test_logs_view_holds_a_million_lines(engine, image):
    """A million lines: all arrive, only the screen's rows are rendered, searching finds the one
    line asked for and jumps there, and the end follows."""
    from dunnage.tui.app import LogsScreen
    c = engine.run(image, ["seq", "1000000"], name="million", detach=True, network="none")
    engine.wait(c.id, 120)
    app = DunnageApp(engine, interval=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        app.push_screen(LogsScreen(engine, c.id, "million"))
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        scr = app.screen
        await until(pilot, lambda: scr.query("#log"))
        view = scr.view
        await until(pilot, lambda: len(view) == 1_000_000, timeout=120)
        await pilot.pause(0.2)
        rows = [view.render_line(y).text.strip() for y in range(view.size.height)]
        assert rows[-1] == "1000000" and rows[0] == str(1_000_001 - view.size.height)  # following the end
        assert view._cache.misses < 10_000  # rows rendered: what was on screen along the way, not the log
        await pilot.press("g")  # vim's top
        await pilot.pause(0.1)
        assert view.render_line(0).text.strip() == "1"
        await pilot.press("slash")
        await until(pilot, lambda: app.screen.query("#answer"))
        app.screen.query_one("#answer").value = "^7777[0-3]$"
        await pilot.press("enter")
        await until(pilot, lambda: scr.matches == [77769, 77770, 77771, 77772], timeout=60)
        await pilot.pause(0.1)
        middle = [view.render_line(y).text.strip() for y in range(view.size.height)]
        assert "77770" in middle and "1" not in middle  # jumped from the top to the first match
        await pilot.press("escape", "q")


async def test_marks_act_on_several_containers(engine, image):
    a = engine.run(image, ["sleep", "300"], name="mark-a", detach=True, network="none")
    b = engine.run(image, ["sleep", "300"], name="mark-b", detach=True, network="none")
    keep = engine.run(image, ["sleep", "300"], name="mark-keep", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: {a.id, b.id, keep.id} <= set(app.rows))
        table = app.query_one("#containers", DataTable)
        for c in (a, b):
            table.move_cursor(row=table.get_row_index(c.id))
            await pilot.press("space")
        assert app.marked == {a.id, b.id}
        assert "2 marked" in app.sub_title
        assert str(table.get_cell(a.id, "name")).startswith("● ")
        await pilot.press("x")
        await until(pilot, lambda: app.rows[a.id].state == "exited" and app.rows[b.id].state == "exited", 40)
        assert app.rows[keep.id].state == "running" and not app.marked
        await pilot.press("q")


async def test_container_page_charts_top_and_inspect(engine, image):
    from textual.widgets import Tree
    from dunnage.tui.page import ContainerScreen
    c = engine.run(image, ["sh", "-c", "while :; do :; done"], name="paged", detach=True, cpus="0.5",
                   memory="64m", network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: c.id in app.rows and len(app.rows[c.id].cpu_hist) >= 3)
        table = app.query_one("#containers", DataTable)
        table.move_cursor(row=table.get_row_index(c.id))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        page = app.screen
        # CPU against its limit, with throttling; memory against its limit
        await until(pilot, lambda: "full = 0.5 CPU limit" in page.query_one("#page-cpu").title)
        await until(pilot, lambda: "throttled" in page.query_one("#page-cpu").title, 20)
        assert "full = 64MiB limit" in page.query_one("#page-mem").title
        assert "packets ↓" in page.query_one("#page-net").title
        # the busy container's CPU chart has bars, drawn by our own chart widget
        chart = page.query_one("#page-cpu")
        assert any(ch in chart.render_line(y).text for y in range(chart.size.height) for ch in "▁▂▃▄▅▆▇█")
        await pilot.press("2")
        await until(pilot, lambda: page.query_one("#top-table", DataTable).row_count >= 1)
        await pilot.press("3")
        tree = page.query_one("#page-tree", Tree)
        await until(pilot, lambda: any("HostConfig" in str(n.label) for n in tree.root.children))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ContainerScreen))
        await pilot.press("q")


def chart_lines(chart) -> list[str]:
    """A chart as on screen, line by line: its title, its plot, its time axis."""
    return [chart.render_line(y).text for y in range(chart.size.height)]


def chart_plot(chart) -> list[str]:
    """A chart's plot rows as on screen, without the title, the time axis and the y axis."""
    lines = chart_lines(chart)
    rows = lines[1:-1] if len(lines) - 1 >= 3 else lines[1:]
    return [row[max(row.find("┤"), row.find("│")) + 1:] for row in rows]


async def test_charts_scale_to_limits_and_draw_a_flat_series_flat(engine, image):
    """Issue 15: a constant series is not a full block, and a chart says what its top is."""
    from dunnage.tui.page import ContainerScreen
    busy = engine.run(image, ["sh", "-c", "while :; do :; done"], name="chart-busy", detach=True, cpus="0.5",
                      network="none")
    idle = engine.run(image, ["sleep", "300"], name="chart-idle", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: all(c.id in app.rows and sum(v is not None for v in app.rows[c.id].cpu_hist) >= 4
                                       for c in (busy, idle)))
        table = app.query_one("#containers", DataTable)
        table.move_cursor(row=table.get_row_index(busy.id))
        await until(pilot, lambda: "full = 0.5 CPU limit" in app.query_one("#cpu-chart").title)
        assert chart_lines(app.query_one("#cpu-chart"))[1].lstrip().startswith("50% ┤")

        table.move_cursor(row=table.get_row_index(idle.id))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        page = app.screen
        pids = page.query_one("#page-pids")
        await until(pilot, lambda: pids.title == "PIDS 1 · no limit" and sum(1 for r in chart_plot(pids) if r.strip()))
        rows = chart_plot(pids)
        assert chart_lines(pids)[1].lstrip().startswith("2 ┤")  # 1 on a nice scale that holds it: 0..2
        assert all(len(set(r.strip())) <= 1 for r in rows), rows  # flat: each row the same in every column
        assert not rows[0].strip() and any(r.strip() for r in rows), rows  # not up to the top, not empty
        assert sum(1 for r in rows if r.strip()) <= (len(rows) + 1) // 2 + 1, rows  # about half the height
        # no CPU limit: the chart is full at the host's cores
        cores = os.cpu_count()
        cpu = page.query_one("#page-cpu")
        assert f"full = host's {cores} core" in cpu.title
        assert chart_lines(cpu)[1].lstrip().startswith(f"{cores * 100}% ┤")
        assert chart_lines(cpu)[-1].strip().startswith("-18s") and chart_lines(cpu)[-1].endswith("now")
        await pilot.press("escape", "q")


async def test_a_stopped_containers_charts_say_so_and_draw_no_blocks(engine, image):
    """Issue 23: a stopped container's page drew every chart as a solid block."""
    from dunnage.tui.chart import BARS
    from dunnage.tui.page import ContainerScreen
    c = engine.run(image, ["sleep", "300"], name="chart-stops", detach=True, network="none", memory="32m")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 32)) as pilot:
        await until(pilot, lambda: c.id in app.rows and sum(v is not None for v in app.rows[c.id].cpu_hist) >= 3)
        engine.kill(c.id)
        await until(pilot, lambda: app.rows[c.id].state == "exited")
        table = app.query_one("#containers", DataTable)
        table.move_cursor(row=table.get_row_index(c.id))
        await until(pilot, lambda: app.query_one("#cpu-chart").note == "not running")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        page = app.screen
        charts = [page.query_one(f"#page-{k}") for k in ("cpu", "mem", "net", "io", "pids")]
        await until(pilot, lambda: all(any("not running" in line for line in chart_lines(ch)) for ch in charts))
        for ch in charts:
            assert not any(b in line for line in chart_lines(ch) for b in BARS), (ch.id, chart_lines(ch))
        await pilot.press("escape", "q")


async def test_images_volumes_and_networks_views(engine, image):
    from dunnage.tui.views import ImagesScreen, InspectScreen, NetworksScreen, RunForm, VolumesScreen
    engine.volume_create("tui-vol")
    app = DunnageApp(engine, interval=0.5)
    try:
        async with app.run_test(size=(120, 34)) as pilot:
            await pilot.press("I")
            await until(pilot, lambda: isinstance(app.screen, ImagesScreen) and app.screen.loaded)
            images = app.screen
            assert image in images.items
            t = images.query_one(DataTable)
            t.move_cursor(row=t.get_row_index(image))
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, InspectScreen))
            await pilot.press("escape")
            # run a container from the image through the form
            await pilot.press("c")
            await until(pilot, lambda: isinstance(app.screen, RunForm))
            form = app.screen
            form.query_one("#f-name").value = "from-form"
            form.query_one("#f-command").value = "sleep 300"
            form.query_one("#f-env").value = "A=1, B=2"
            form.query_one("#f-memory").value = "32m"
            form.query_one("#f-network").value = "none"
            form.submit()
            await until(pilot, lambda: not isinstance(app.screen, RunForm), 30)
            c = engine.container("from-form")
            assert c.running() and "A=1" in c.config["Config"]["Env"]
            assert c.config["HostConfig"]["Memory"] == 32 << 20
            await pilot.press("escape")
            await pilot.press("V")
            await until(pilot, lambda: isinstance(app.screen, VolumesScreen) and app.screen.loaded)
            vols = app.screen
            assert "tui-vol" in vols.items
            t = vols.query_one(DataTable)
            t.move_cursor(row=t.get_row_index("tui-vol"))
            await pilot.press("d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")
            await until(pilot, lambda: "tui-vol" not in {v["Name"] for v in engine.volumes()})
            await until(pilot, lambda: "tui-vol" not in vols.items)
            await pilot.press("escape")
            await pilot.press("N")
            await until(pilot, lambda: isinstance(app.screen, NetworksScreen) and app.screen.loaded)
            assert {"bridge"} <= set(app.screen.items)
            # the container keys do nothing here: s would start a container on the main screen
            await pilot.press("escape", "q")
    finally:
        for v in ("tui-vol",):
            try:
                engine.volume_remove(v)
            except Exception:  # noqa: BLE001
                pass


async def test_command_palette_runs_container_actions(engine, image):
    c = engine.run(image, ["sleep", "300"], name="paletted", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"stop paletted")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: app.rows[c.id].state == "exited", 30)
        await pilot.press("q")


def test_settings_file_theme_keys_and_errors(tmp_path, engine, image):
    from textual.app import App
    from dunnage.tui import config
    from dunnage.tui.app import binding_ids
    themes = set(App().available_themes)
    f = tmp_path / "config.toml"
    f.write_text('[dashboard]\ntheme = "ansi-dark"\ninterval = 0.5\n[keys]\nstop = "z,ctrl+s"\n')
    s = config.load(f, binding_ids(), themes)
    assert (s.theme, s.interval, s.keys) == ("ansi-dark", 0.5, {"stop": "z,ctrl+s"})
    for text, msg in (('[keys]\nfly = "f"\n', "no action 'fly'"), ('[dashboard]\ntheme = "neon"\n', "unknown theme"),
                      ("[dashboard\n", str(f)), ('[dashboard]\ninterval = 0\n', "between 0.1 and 60"),
                      ('[colors]\n', "unknown section")):
        f.write_text(text)
        with pytest.raises(config.ConfigError, match=msg):
            config.load(f, binding_ids(), themes)
    # the command line refuses a bad file with one line
    cfg = tmp_path / "xdg" / "dunnage"
    cfg.mkdir(parents=True)
    (cfg / "config.toml").write_text('[keys]\nfly = "f"\n')
    import subprocess
    p = subprocess.run([DUNNAGE, "--root", str(engine.store.root)],
                       env={**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}, capture_output=True, timeout=60)
    assert p.returncode == 125 and len(p.stderr.decode().strip().splitlines()) == 1
    assert b"no action 'fly'" in p.stderr


async def test_configured_keys_and_theme_apply(engine, image):
    c = engine.run(image, ["sleep", "300"], name="rebound", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3, theme="ansi-dark", keys={"stop": "z"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        assert app.theme == "ansi-dark"
        table = app.query_one("#containers", DataTable)
        table.move_cursor(row=table.get_row_index(c.id))
        await pilot.press("x")  # no longer stop
        await pilot.pause(0.5)
        assert engine.container(c.id).running()
        await pilot.press("z")
        await until(pilot, lambda: app.rows[c.id].state == "exited", 30)
        await pilot.press("q")


async def test_files_view_tells_which_layer_each_file_comes_from(engine, image):
    from dunnage.tui.page import FilesTree
    c = engine.run(image, ["sh", "-c", "echo x > /added; echo y >> /etc/passwd; sleep 300"], name="filed",
                   detach=True, network="none")
    def both_made() -> bool:  # the second change, a copy-up, comes after the first
        passwd = c.upper / "etc/passwd"
        return (c.upper / "added").exists() and passwd.exists() and passwd.read_bytes().endswith(b"y\n")
    wait_for(both_made)
    origin = {e["Name"]: e["Origin"] for e in engine.files(c.id, "/etc")}
    assert origin["passwd"] == "changed" and origin["hosts"] == "init"
    assert origin["group"].startswith("layer 1 ")  # the demo image has one layer: its diff id follows
    assert {e["Name"]: e["Origin"] for e in engine.files(c.id, "/")}["added"] == "added"
    app = DunnageApp(engine, interval=0.5)
    async with app.run_test(size=(100, 32)) as pilot:
        await page_of(pilot, app, c.id)
        await pilot.press("4")
        tree = app.screen.query_one(FilesTree)
        await until(pilot, lambda: "/" in tree.loaded_dirs)
        labels = {str(n.label).split()[0]: str(n.label) for n in tree.root.children}
        assert labels["added"].endswith("added") and labels["bin/"].split()[1] == "layer"
        etc = next(n for n in tree.root.children if str(n.label).startswith("etc/"))
        etc.expand()
        await until(pilot, lambda: "/etc" in tree.loaded_dirs)
        assert any(str(n.label) == "passwd  changed" for n in etc.children)
        await pilot.press("escape", "q")
