"""The dashboard's list and a live detail pane together (issue 23): the pane follows the
selection, its tabs (stats, logs, env, top, config) switch with [ and ]; H hides the
stopped containers."""
from __future__ import annotations

import pytest
from textual.widgets import ContentSwitcher, DataTable, Tree

from dunnage.tui.app import DunnageApp
from dunnage.tui.logview import LogView

from test_tui import until
from test_tui_bugs import select

pytestmark = pytest.mark.timeout(120)


async def test_the_detail_pane_shows_the_selected_containers_logs_env_top_and_config(engine, image):
    a = engine.run(image, ["sh", "-c", "echo from-a; exec sleep 300"], name="split-a", detach=True,
                   network="none", env=["WHO=alpha"])
    b = engine.run(image, ["sh", "-c", "echo from-b; exec sleep 301"], name="split-b", detach=True,
                   network="none", env=["WHO=beta"])
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: {a.id, b.id} <= set(app.rows))
        detail = app.query_one("#detail", ContentSwitcher)
        select(app, a.id)
        await pilot.pause(0.1)
        assert detail.current == "d-stats" and detail.border_title.startswith("split-a ─ ")
        await pilot.press("right_square_bracket")  # ]: logs
        log = app.query_one("#d-logs", LogView)
        await until(pilot, lambda: detail.current == "d-logs" and log.texts == ["from-a"])
        select(app, b.id)  # the pane follows the selection
        await until(pilot, lambda: log.texts == ["from-b"])
        await pilot.press("right_square_bracket")  # env
        env = app.query_one("#d-env", DataTable)
        await until(pilot, lambda: detail.current == "d-env" and any(
            env.get_row_at(i) == ["WHO", "beta"] for i in range(env.row_count)))
        await pilot.press("right_square_bracket")  # top
        top = app.query_one("#d-top", DataTable)
        await until(pilot, lambda: detail.current == "d-top" and any(
            "sleep 301" in " ".join(map(str, top.get_row_at(i))) for i in range(top.row_count)))
        await pilot.press("right_square_bracket")  # config: the inspect document
        tree = app.query_one("#d-config", Tree)
        await until(pilot, lambda: detail.current == "d-config" and str(tree.root.label) == "split-b")
        await pilot.press("right_square_bracket")  # round to stats
        await until(pilot, lambda: detail.current == "d-stats")
        await pilot.press("left_square_bracket")  # [: back to config
        await until(pilot, lambda: detail.current == "d-config")
        await pilot.press("q")


async def test_H_hides_and_shows_the_stopped_containers(engine, image):
    up = engine.run(image, ["sleep", "300"], name="hide-up", detach=True, network="none")
    down = engine.run(image, ["true"], name="hide-down", detach=True, network="none")
    engine.wait(down.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#containers", DataTable)
        await until(pilot, lambda: {up.id, down.id} <= set(table.rows))
        await pilot.press("H")
        await until(pilot, lambda: down.id not in table.rows)
        assert up.id in table.rows and "stopped hidden" in app.sub_title
        await pilot.press("H")
        await until(pilot, lambda: down.id in table.rows)
        await pilot.press("q")


def test_states_are_told_apart_by_colour_in_16_colours(engine, image):
    """Over SSH to an old terminal: running green, paused yellow, exited red."""
    import re
    from conftest import Tmux, dunnage_cmd, wait_for
    engine.run(image, ["sleep", "300"], name="hue-a-cursor", detach=True, network="none")  # the cursor's row
    engine.run(image, ["sleep", "300"], name="hue-running", detach=True, network="none")
    p = engine.run(image, ["sleep", "300"], name="hue-paused", detach=True, network="none")
    engine.pause(p.id)
    d = engine.run(image, ["true"], name="hue-exited", detach=True, network="none")
    engine.wait(d.id, 30)
    with Tmux("env TERM=xterm-16color COLORTERM= " + dunnage_cmd(engine.store.root), 160, 40) as t:
        wait_for(lambda: all(x in t.screen() for x in ("hue-running", "hue-paused", "hue-exited")), timeout=20)
        shown = t.screen(escapes=True)

        def colour(name, status):  # the last foreground set before the row's status
            line = next(x for x in shown.splitlines() if name in x)
            codes = [c for seq in re.findall(r"\x1b\[([0-9;]*)m", line[:line.index(status)]) for c in seq.split(";")]
            return [int(c) for c in codes if c and (30 <= int(c) <= 37 or 90 <= int(c) <= 97)][-1]
        assert colour("hue-running", "Up ") in (32, 92)
        assert colour("hue-paused", "Up ") in (33, 93)
        assert colour("hue-exited", "Exited") in (31, 91)
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)


async def test_a_column_narrows_again_when_its_widest_value_is_gone(engine, image):
    c = engine.run(image, ["sleep", "300"], name="narrows", detach=True, network="none")
    app = DunnageApp(engine, interval=60)  # rounds come when asked (r)
    async with app.run_test(size=(120, 30)) as pilot:
        from textual.widgets.data_table import ColumnKey
        table = app.query_one("#containers", DataTable)
        await until(pilot, lambda: c.id in table.rows)
        status = table.columns[ColumnKey("status")]
        app.rows[c.id].status = "Up Less than a second, and then some more"  # as a first round can say
        app._apply(list(app.rows.values()))
        await until(pilot, lambda: status.get_render_width(table) > 40)
        await pilot.press("r")
        await until(pilot, lambda: "more" not in str(table.get_cell(c.id, "status")))
        await until(pilot, lambda: status.get_render_width(table) < 30)
        await pilot.press("q")


async def test_the_bulk_menu_removes_every_stopped_container_after_asking(engine, image):
    from dunnage.tui.views import BulkScreen, ConfirmScreen
    up = engine.run(image, ["sleep", "300"], name="bulk-up", detach=True, network="none")
    downs = [engine.run(image, ["true"], name=f"bulk-down-{i}", detach=True, network="none") for i in range(2)]
    for d in downs:
        engine.wait(d.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: {up.id, *(d.id for d in downs)} <= set(app.rows))
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, BulkScreen))
        await pilot.press("down", "enter")  # the second: remove every stopped container
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "stopped container" in str(app.screen.question)
        await pilot.press("y")
        await until(pilot, lambda: not any(d.id in app.rows for d in downs), 30)
        assert up.id in app.rows and engine.container(up.id).running()
        assert {c.id for c in engine.containers(all_=True)} & {d.id for d in downs} == set()
        await pilot.press("q")


def test_m_gives_the_mouse_to_the_terminal_and_takes_it_back(engine, image):
    """oxker's m: with the mouse the terminal's, text can be selected and copied."""
    import subprocess
    from conftest import Tmux, dunnage_cmd, wait_for
    engine.run(image, ["sleep", "300"], name="mouse-box", detach=True, network="none")
    with Tmux(dunnage_cmd(engine.store.root), 100, 30) as t:
        def flag() -> str:  # whether the program in the pane asked for mouse events
            return subprocess.run(["tmux", "display", "-p", "-t", t.name, "#{mouse_any_flag}"],
                                  capture_output=True, text=True).stdout.strip()
        wait_for(lambda: "mouse-box" in t.screen(), timeout=20)
        wait_for(lambda: flag() == "1", timeout=10)
        t.keys("m")
        wait_for(lambda: flag() == "0", timeout=10)
        t.keys("m")
        wait_for(lambda: flag() == "1", timeout=10)
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)


async def test_an_images_layers_with_sizes_and_commands_and_the_containers_using_it(engine, image):
    from dunnage.tui.views import ImageScreen, ImagesScreen
    c = engine.run(image, ["sleep", "300"], name="layered-user", detach=True, network="none")
    app = DunnageApp(engine, interval=0.5)
    async with app.run_test(size=(120, 34)) as pilot:
        await pilot.press("I")
        await until(pilot, lambda: isinstance(app.screen, ImagesScreen) and app.screen.loaded)
        t = app.screen.query_one(DataTable)
        t.move_cursor(row=t.get_row_index(image))
        await pilot.press("h")
        await until(pilot, lambda: isinstance(app.screen, ImageScreen) and app.screen.loaded)
        layers = app.screen.query_one("#layers", DataTable)
        rows = [layers.get_row_at(i) for i in range(layers.row_count)]
        assert rows and all(len(r) == 3 for r in rows)
        assert any(r[2] not in ("0B", "0") for r in rows), rows  # a layer's own size
        users = app.screen.query_one("#users", DataTable)
        assert [users.get_row_at(i)[0] for i in range(users.row_count)] == [c.name]
        await pilot.press("escape", "escape", "q")


async def test_the_command_line_runs_commands_and_recalls_them(engine, image):
    from dunnage.tui.logview import LogsScreen
    from dunnage.tui.views import AskScreen, ImagesScreen
    from test_tui_bugs import burst, toasts
    c = engine.run(image, ["sh", "-c", "echo said-hello; exec sleep 300"], name="commanded", detach=True,
                   network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        burst(app, ":logs commanded\r")  # typed fast: the keys behind : go to its prompt
        await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen.query("#log")
                    and app.screen.view.texts == ["said-hello"])
        burst(app, ":images\r")  # from any screen
        await until(pilot, lambda: isinstance(app.screen, ImagesScreen))
        burst(app, ":ps\r")
        await until(pilot, lambda: len(app.screen_stack) == 1)
        burst(app, ":bogus\r")
        await until(pilot, lambda: any("unknown command :bogus" in t for t in toasts(app)))
        await pilot.press("colon")
        await until(pilot, lambda: isinstance(app.screen, AskScreen))
        await pilot.press("up")  # the last command
        assert app.screen.query_one("#answer").value == "bogus"
        await pilot.press("up", "up")
        assert app.screen.query_one("#answer").value == "images"
        app.screen.query_one("#answer").value = "stop commanded"
        await pilot.press("enter")
        await until(pilot, lambda: engine.container(c.id).status == "exited", 30)
        await pilot.press("slash")  # a colon typed in the filter is a colon
        await until(pilot, lambda: app.query_one("#filter").has_focus)
        await pilot.press("a", "colon", "b")
        assert app.query_one("#filter").value == "a:b" and len(app.screen_stack) == 1
        await pilot.press("escape", "q")


async def test_v_puts_the_detail_pane_beside_the_list_and_back(engine, image):
    c = engine.run(image, ["sleep", "300"], name="beside", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        table, detail = app.query_one("#containers"), app.query_one("#detail")
        assert detail.region.y > table.region.y  # under it
        await pilot.press("v")
        await pilot.pause(0.2)
        assert detail.region.x > table.region.x and detail.region.y <= table.region.y + 1  # beside it
        cpu, mem = app.query_one("#cpu-chart"), app.query_one("#mem-chart")
        assert mem.region.y > cpu.region.y  # its charts one above the other
        await pilot.press("v")
        await pilot.pause(0.2)
        assert detail.region.y > table.region.y
        await pilot.press("q")


def test_a_attaches_to_the_selected_container_and_ctrl_p_ctrl_q_comes_back(engine, image):
    from conftest import Tmux, dunnage_cmd, wait_for
    engine.run(image, ["sh"], name="attached", detach=True, network="none", tty=True, interactive=True)
    with Tmux(dunnage_cmd(engine.store.root), 100, 30) as t:
        wait_for(lambda: "attached" in t.screen() and "q quit" in t.screen(), timeout=20)
        t.keys("a")
        wait_for(lambda: "q quit" not in t.screen(), timeout=20)

        def prompt() -> bool:  # the shell answers once the attach is through
            t.keys("Enter")
            return "/ #" in t.screen()
        wait_for(prompt, timeout=20, interval=0.5)
        t.keys("echo attached-$((6*7))", "Enter")
        wait_for(lambda: "attached-42" in t.screen(), timeout=10)
        t.keys("C-p", "C-q")
        wait_for(lambda: "q quit" in t.screen(), timeout=20)
        assert engine.container("attached").running()  # detached, not ended
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)


async def test_the_filter_applies_as_it_is_typed(engine, image):
    a = engine.run(image, ["sleep", "300"], name="typed-apple", detach=True, network="none")
    b = engine.run(image, ["sleep", "300"], name="typed-berry", detach=True, network="none")
    app = DunnageApp(engine, interval=60)  # no round comes to apply it meanwhile
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.query_one("#containers", DataTable)
        await until(pilot, lambda: {a.id, b.id} <= set(table.rows))
        await pilot.press("slash", *"typed-b")  # no enter
        await until(pilot, lambda: a.id not in table.rows and b.id in table.rows)
        await pilot.press("escape", "q")


async def test_W_opens_the_published_port_in_the_browser(engine, image, tmp_path, monkeypatch):
    """The browser is whatever $BROWSER names (Python's webbrowser): here a script that writes the URL down."""
    import socket
    from dunnage.tui.app import published_url
    assert published_url("0.0.0.0:8080->80/tcp, 53/udp") == "http://127.0.0.1:8080/"
    assert published_url("53/udp") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = engine.run(image, ["sleep", "300"], name="browsed", detach=True, publish=[f"127.0.0.1:{port}:80"])
    script = tmp_path / "browser"
    script.write_text(f"#!/bin/sh\necho \"$1\" > {tmp_path}/opened\n")
    script.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(script))
    import webbrowser
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read $BROWSER again
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows and app.rows[c.id].ports)
        select(app, c.id)
        await pilot.press("W")
        await until(pilot, lambda: (tmp_path / "opened").exists())
        assert (tmp_path / "opened").read_text().strip() == f"http://127.0.0.1:{port}/"
        await pilot.press("q")


@pytest.mark.parametrize("width", [100, 160])
async def test_cpu_and_memory_gauges_against_the_limit_where_there_is_room(engine, image, width):
    c = engine.run(image, ["sh", "-c", "while :; do :; done"], name="gauged", detach=True, cpus="0.5",
                   memory="64m", network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(width, 30)) as pilot:
        table = app.query_one("#containers", DataTable)
        await until(pilot, lambda: c.id in app.rows and app.rows[c.id].cpu > 20)
        await until(pilot, lambda: str(table.get_cell(c.id, "cpu")).endswith(f"{app.rows[c.id].cpu:.2f}%"))
        cpu, mem = str(table.get_cell(c.id, "cpu")), str(table.get_cell(c.id, "mem"))
        if width < 140:
            assert "█" not in cpu and "·" not in mem
        else:  # 0.5 CPU limit: a busy loop fills most of its gauge; 64MiB barely begun
            bar = cpu.split(" ")[0]
            assert len(bar) == 6 and bar.startswith("██"), cpu
            assert mem.startswith("▏·····") or mem.startswith("······"), mem
            assert mem.endswith("/ 64MiB")
        await pilot.press("q")
