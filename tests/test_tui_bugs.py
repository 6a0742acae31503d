"""Issue 23's "bugs seen": each as a person met it, driven with Textual's pilot against
real containers (a burst of keys is posted at once, as a terminal delivers a fast typist's)."""
from __future__ import annotations

import re

import pytest
from textual import events
from textual.widgets import DataTable, Footer, Tree

from dunnage.tui.app import DunnageApp, HelpScreen
from dunnage.tui.logview import LogsScreen
from dunnage.tui.page import ContainerScreen

from conftest import cli, wait_for
from test_tui import chart_lines, page_of, until

pytestmark = pytest.mark.timeout(120)


def cell(app, cid, col) -> str:
    return str(app.query_one("#containers", DataTable).get_cell(cid, col))


def select(app, cid) -> None:
    t = app.query_one("#containers", DataTable)
    t.move_cursor(row=t.get_row_index(cid))


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def burst(app, keys: str) -> None:
    """KEYS arriving in one read, as a terminal hands them over: every event is posted
    before the first is handled (pilot.press waits for each)."""
    from textual.keys import _character_to_key
    for k in keys:
        name = {"\r": "enter", "\x15": "ctrl+u"}.get(k) or _character_to_key(k)
        app.post_message(events.Key(name, k if k.isprintable() else None))


async def test_an_oom_killed_container_keeps_its_mark_after_it_exits(engine, image, session_root):
    c = engine.run(image, ["sh", "-c", "x=a; while :; do x=$x$x; done"], name="oomed", detach=True,
                   memory="8m", network="none")
    wait_for(lambda: engine.container(c.id).status == "exited", timeout=60)
    assert engine.inspect(c.id)["State"]["OOMKilled"] is True
    p = cli(session_root, "inspect", "--format", "{{.State.OOMKilled}}", c.id)
    assert p.stdout.decode().strip() == "true", p  # Go's bool, not Python's True
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        assert cell(app, c.id, "status") == "Exited (137) OOM"
        select(app, c.id)
        await until(pilot, lambda: "OOM-killed" in app.query_one("#mem-chart").title)
        assert app.query_one("#mem-chart").alert
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        mem = app.screen.query_one("#page-mem")
        await until(pilot, lambda: "OOM-killed" in chart_lines(mem)[0])
        assert mem.alert
        await pilot.press("escape", "q")


async def test_memory_held_near_its_limit_is_marked_and_a_paused_row_shows_memory(engine, image):
    full = engine.run(image, ["sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=30; sleep 300"],
                      name="near-limit", detach=True, memory="32m", network="none")
    held = engine.run(image, ["sleep", "300"], name="held", detach=True, memory="64m", network="none")
    engine.pause(held.id)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: full.id in app.rows and app.rows[full.id].mem > 29 << 20, 30)
        await until(pilot, lambda: cell(app, full.id, "mem").startswith("⚠ "))
        assert cell(app, full.id, "mem").endswith("/ 32MiB")
        select(app, full.id)
        await until(pilot, lambda: "near its limit" in app.query_one("#mem-chart").title)
        # paused: its memory is still held, and shown
        await until(pilot, lambda: held.id in app.rows and app.rows[held.id].state == "paused")
        await until(pilot, lambda: cell(app, held.id, "mem").endswith(" / 64MiB"))
        assert cell(app, held.id, "mem") != "-" and cell(app, held.id, "pids") == "1"
        await pilot.press("q")


async def test_log_colours_are_drawn_or_stripped_and_search_is_smart_case(engine, image):
    c = engine.run(image, ["sh", "-c", r'printf "\033[32mGREEN\033[0m ok\nError one\nerror two\nERROR three\n"; '
                                       "sleep 300"], name="coloured", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        select(app, c.id)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogsScreen))
        scr = app.screen
        view = scr.view
        await until(pilot, lambda: len(view) == 4)
        await pilot.pause(0.1)
        assert view.texts[0] == "GREEN ok"  # the escapes are not text: not searched, not saved

        def green(y):
            return [s.text for s in view.render_line(y) if s.style and s.style.color
                    and s.style.color.name in ("green", "color(2)")]
        assert view.render_line(0).text.rstrip() == "GREEN ok" and green(0) == ["GREEN"]
        assert "following" in scr.sub_title
        await pilot.press("c")  # strip the colours
        assert view.render_line(0).text.rstrip() == "GREEN ok" and green(0) == []
        assert "colours stripped" in scr.sub_title
        await pilot.press("c")
        assert green(0) == ["GREEN"]
        await pilot.press("f")  # the header says the view no longer follows (no toast over the text)
        assert "paused" in scr.sub_title and not any("paused" in t for t in toasts(app))

        async def search(text):
            await pilot.press("slash")
            await until(pilot, lambda: app.screen.query("#answer"))
            app.screen.query_one("#answer").value = text
            await pilot.press("enter")
        await search("error")  # all lower case: any case
        await until(pilot, lambda: scr.matches == [1, 2, 3])
        await search("Error")  # a capital: this case only
        await until(pilot, lambda: scr.matches == [1])
        await pilot.press("escape", "q")


async def test_the_save_and_search_prompts_take_fast_input(engine, image, tmp_path):
    c = engine.run(image, ["sh", "-c", "echo one; echo two; sleep 300"], name="typed-fast", detach=True,
                   network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        app.push_screen(LogsScreen(engine, c.id, "typed-fast"))
        await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen.query("#log")
                    and len(app.screen.view) == 2)
        scr = app.screen
        path = tmp_path / "saved.log"
        burst(app, f"w\x15{path}\r")  # w, ctrl+u (clear the name offered), a path, enter
        await until(pilot, lambda: path.exists() and path.read_text() == "one\ntwo\n")
        assert app.screen is scr
        burst(app, "/two\r")
        await until(pilot, lambda: scr.matches == [1])
        assert app.screen is scr and not scr.view.show_time  # no key went to the log screen's own
        await pilot.press("escape", "q")


async def test_help_and_footer_are_built_from_the_bindings_with_remaps(engine, image):
    app = DunnageApp(engine, interval=0.3, keys={"logs": "L", "stop": "z"})
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.rounds >= 1)
        from textual.widgets._footer import FooterKey
        await until(pilot, lambda: app.screen.query(FooterKey))
        keys = [(k.key, k.action) for k in app.screen.query_one(Footer).query(FooterKey)]
        actions = [a for _, a in keys]
        assert ("L", "logs") in keys and ("l", "logs") not in keys and ("z", "stop") in keys
        assert actions.index("logs") < actions.index("start") < actions.index("stop") < actions.index("sort")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = dict((what.split(" ")[0], keys) for keys, what in app.screen.rows)
        assert rows["logs"] == "L" and rows["stop"] == "z"
        assert not any(k == "l" for k, _ in app.screen.rows)
        await pilot.press("escape", "q")


async def test_help_fits_80x24_and_scrolls_by_keyboard_and_lists_the_page_keys(engine, image):
    c = engine.run(image, ["sleep", "300"], name="helped", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await until(pilot, lambda: app.screen.query("#help"))
        box = app.screen.query_one("#help")
        await until(pilot, lambda: app.focused is box and box.max_scroll_y > 0)  # it scrolls, by keyboard
        assert box.region.bottom <= 24  # inside the screen
        await pilot.press("end")
        await until(pilot, lambda: box.scroll_y == box.max_scroll_y)
        whats = [w for _, w in app.screen.rows]
        assert any(w.startswith("sort by the next column") for w in whats)  # one line each: no orphan "reverse"
        await pilot.press("escape")
        select(app, c.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = {k for k, _ in app.screen.rows}
        assert {"1", "2", "3", "4", "p", "x", "R", "I"} <= keys and "space" not in keys
        await pilot.press("escape", "escape", "q")


async def test_the_inspect_tab_takes_the_keyboard_and_follows_the_container(engine, image):
    c = engine.run(image, ["sleep", "300"], name="inspected", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        page = await page_of(pilot, app, c.id)
        await pilot.press("3")  # (the tree is built when its tab is first shown)
        await until(pilot, lambda: page.query("#page-tree"))
        tree = page.query_one("#page-tree", Tree)
        await until(pilot, lambda: tree.root.children)
        await until(pilot, lambda: app.focused is tree)
        state = next(n for n in tree.root.children if n.data == ("State",))
        for _ in range(tree.root.children.index(state) + 1):
            await pilot.press("down")
        assert tree.cursor_node is state
        await pilot.press("enter")  # opens the branch
        await until(pilot, lambda: state.is_expanded)

        def status() -> str:
            node = next(n for n in tree.root.children if n.data == ("State",))
            return next(str(n.label) for n in node.children if n.data == ("State", "Status"))
        assert status() == 'Status: "running"'
        engine.kill(c.id)
        await until(pilot, lambda: status() == 'Status: "exited"')  # refreshed in place
        await until(pilot, lambda: tree.cursor_node is not None and tree.cursor_node.data == ("State",))
        assert next(n for n in tree.root.children if n.data == ("State",)).is_expanded
        await pilot.press("escape", "q")


async def test_page_keys_act_on_its_container_and_the_views_open_from_anywhere(engine, image):
    from dunnage.tui.views import ImagesScreen, NetworksScreen, VolumesScreen
    c = engine.run(image, ["sleep", "300"], name="paged-keys", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await page_of(pilot, app, c.id)
        await pilot.press("p")
        await until(pilot, lambda: engine.container(c.id).status == "paused")
        await until(pilot, lambda: app.rows[c.id].state == "paused")
        await pilot.press("p")
        await until(pilot, lambda: engine.container(c.id).status == "running")
        started = engine.inspect(c.id)["State"]["StartedAt"]
        await until(pilot, lambda: app.rows[c.id].state == "running")
        await pilot.press("R")
        await until(pilot, lambda: engine.inspect(c.id)["State"]["StartedAt"] != started, 30)
        await pilot.press("x")
        await until(pilot, lambda: engine.container(c.id).status == "exited", 30)
        assert isinstance(app.screen, ContainerScreen)
        depth = len(app.screen_stack)
        for key, cls in (("I", ImagesScreen), ("V", VolumesScreen), ("N", NetworksScreen)):
            await pilot.press(key)
            await until(pilot, lambda: isinstance(app.screen, cls))
            assert len(app.screen_stack) == depth + 1  # one view replaces another
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        await pilot.press("escape", "q")


async def test_sorting_by_header_with_arrows_that_agree_and_stopped_rows_below(engine, image):
    busy = engine.run(image, ["sh", "-c", "while :; do :; done"], name="s-busy", detach=True, cpus="0.5",
                      network="none")
    idle = engine.run(image, ["sleep", "300"], name="s-idle", detach=True, network="none")
    done = engine.run(image, ["true"], name="s-aaa-done", detach=True, network="none")
    engine.wait(done.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.rows.get(busy.id) and app.rows[busy.id].cpu > 1 and done.id in app.rows)
        table = app.query_one("#containers", DataTable)

        def order():
            return [r.key.value for r in table.ordered_rows if r.key.value in (busy.id, idle.id, done.id)]

        def header(key):
            from textual.widgets.data_table import ColumnKey
            return table.columns[ColumnKey(key)].label.plain
        assert order() == [busy.id, idle.id, done.id]  # by name, A→Z, the exited one below
        assert "sort name ↑" in app.sub_title and header("name").endswith("↑")
        for _ in range(len(app.SORTS)):  # every sort, and each reversed: exited stays below
            await pilot.press("o")
            await pilot.pause(0.05)
            assert order()[-1] == done.id, app.sort_by
            await pilot.press("O")
            await pilot.pause(0.05)
            assert order()[-1] == done.id, (app.sort_by, "reversed")

        async def click(key):
            x = sum(col.get_render_width(table) for col in table.ordered_columns[:[c.key.value for c in
                                                                                  table.ordered_columns].index(key)])
            await pilot.click("#containers", offset=(x + 1, 0))
        await click("cpu")
        await until(pilot, lambda: app.sort_by == "cpu")
        assert "sort cpu ↓" in app.sub_title and header("cpu").endswith("↓")  # ↓: highest first
        assert order() == [busy.id, idle.id, done.id]
        await click("cpu")
        await until(pilot, lambda: "sort cpu ↑" in app.sub_title)
        assert order() == [idle.id, busy.id, done.id]
        await click("name")
        await until(pilot, lambda: app.sort_by == "name" and "sort name ↑" in app.sub_title)
        await pilot.press("q")


async def test_errors_name_short_ids_and_no_toast_comes_before_the_action(engine, image):
    c = engine.run(image, ["true"], name="not-running", detach=True, network="none")
    engine.wait(c.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows and app.rows[c.id].state == "exited")
        select(app, c.id)
        await pilot.press("p")  # pause an exited container: the engine refuses
        await until(pilot, lambda: any("not running" in t for t in toasts(app)))
        said = toasts(app)
        assert not any(re.search(r"[0-9a-f]{64}", t) for t in said), said
        assert any(c.id[:12] in t for t in said), said
        assert not any(t.startswith("pausing") for t in said), said
        await pilot.press("q")


async def test_the_palette_offers_only_the_actions_that_apply(engine, image):
    from textual.command import CommandList, CommandPalette
    up = engine.run(image, ["sleep", "300"], name="pal-up", detach=True, network="none")
    down = engine.run(image, ["true"], name="pal-down", detach=True, network="none")
    engine.wait(down.id, 30)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: up.id in app.rows and app.rows.get(down.id) and app.rows[down.id].state == "exited")

        async def offered(query):
            await pilot.press("ctrl+p")
            await until(pilot, lambda: isinstance(app.screen, CommandPalette))
            await pilot.press(*query)
            await pilot.pause(0.6)
            lst = app.screen.query_one(CommandList)
            out = {str(lst.get_option_at_index(i).prompt).split("\n")[0] for i in range(lst.option_count)}
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, CommandPalette))
            return out
        assert "stop pal-up" in await offered("stop pal")
        assert "stop pal-down" not in await offered("stop pal")
        assert "unpause pal-up" not in await offered("unpause pal")
        assert "start pal-down" in await offered("start pal")
        await pilot.press("q")


def test_the_fork_server_is_named_for_what_it_is(fresh_root, monkeypatch):
    """ps showed the server with the command line of its first client for as long as it lived."""
    import subprocess
    from dunnage.core import Engine, forkserver
    from dunnage.core.images.demo import DEMO_IMAGE
    monkeypatch.setattr(forkserver.client, "FRONT", ("dunnage.tui.cli:main", "dunnage.tui.cli:build_parser"))
    e = Engine(str(fresh_root))
    e.ensure_demo_image()
    c = e.run(DEMO_IMAGE, ["sleep", "600"], detach=True, network="none")
    with open(f"/proc/{c.state['ShimPid']}/stat") as f:
        server = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{server}/cmdline", "rb") as f:  # argv's strings, or one string over them
        assert f.read().replace(b"\0", b" ").strip() == f"dunnage forkserver {fresh_root}".encode()
    ps = subprocess.run(["ps", "-ww", "-o", "args=", "-p", str(server)], capture_output=True, text=True, timeout=10)
    assert ps.stdout.strip() == f"dunnage forkserver {fresh_root}"
    e.remove(c.id, force=True)
