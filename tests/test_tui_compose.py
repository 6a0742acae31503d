"""Compose projects in the dashboard (issue 21): a project's row above its containers with
their CPU and memory added up, folded and unfolded with enter, and the project's actions
from the keyboard on its row (up, stop, restart, down, every service's logs with their
prefixes, the resolved model), through dunnage.compose as the command line runs it.  The
project is a real one brought up with `dunnage compose up -d` and taken down in a finalizer."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable

from conftest import cli
from dunnage.tui.app import GROUP, DunnageApp, TextScreen

from test_tui import until
from test_tui_bugs import select

pytestmark = pytest.mark.timeout(180)

PROJECT = """\
services:
  alpha:
    image: local/busybox:latest
    command: sh -c 'echo hello-from-alpha; exec sleep 300'
    stop_signal: SIGKILL
  beta:
    image: local/busybox:latest
    command: sh -c 'echo hello-from-beta >&2; exec sleep 301'
    stop_signal: SIGKILL
"""


@pytest.fixture
def project(session_root, engine, tmp_path):
    """A two-service project, up; its name."""
    d = tmp_path / "tuiproj"
    d.mkdir()
    (d / "compose.yaml").write_text(PROJECT)
    head = ["compose", "-f", str(d / "compose.yaml")]
    try:
        r = cli(session_root, *head, "up", "-d", timeout=90)
        assert r.returncode == 0, r.stderr.decode()
        yield "tuiproj"
    finally:
        cli(session_root, *head, "down", "-v", "--remove-orphans", "-t", "1", timeout=60)


def members(engine, name):
    return {c.id: c for c in engine.containers(all_=True)
            if (c.config["Config"].get("Labels") or {}).get("com.docker.compose.project") == name}


def keys(table):
    return [row.key.value for row in table.ordered_rows]


async def test_a_project_is_grouped_folded_and_acted_on_from_its_row(engine, image, project):
    alone = engine.run(image, ["sleep", "300"], name="aa-standalone", detach=True, network="none")
    cs = members(engine, project)
    assert len(cs) == 2
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one("#containers", DataTable)
        group = GROUP + project
        await until(pilot, lambda: group in table.rows and set(cs) <= set(table.rows) and alone.id in table.rows
                    and all(app.rows[c].mem for c in cs))
        order = keys(table)
        # the project's row, then its containers; the standalone one apart, after (whatever its name)
        assert order.index(group) + 1 == min(order.index(c) for c in cs)
        assert order.index(alone.id) > max(order.index(c) for c in cs)
        row = table.get_row(group)
        assert "2/2 running" in str(row[1])
        await until(pilot, lambda: app._shown[group]["mem"] != "-")
        # its memory is its containers' added up (as the list shows them, the same round)
        total = sum(app.rows[c].mem for c in cs)
        from dunnage.core.units import bytes_binary
        assert app._shown[group]["mem"] == bytes_binary(total)

        select(app, group)  # the detail pane says what the project's row's keys do
        await until(pilot, lambda: app._detail_title.startswith("tuiproj · compose ─ enter folds"))
        await pilot.press("enter")  # folds
        await until(pilot, lambda: not set(cs) & set(table.rows))
        assert group in table.rows and alone.id in table.rows and str(table.get_row(group)[0]).startswith("▸")
        await pilot.press("enter")  # unfolds
        await until(pilot, lambda: set(cs) <= set(table.rows))

        select(app, group)
        await pilot.press("l")  # every service's log, each line after its container's name (as compose logs)
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        text = app.screen.text.plain
        assert "\nalpha-1  | hello-from-alpha" in "\n" + text and "\nbeta-1   | hello-from-beta" in "\n" + text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TextScreen))

        select(app, group)
        await pilot.press("c")  # the resolved model, as compose config prints it
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        text = app.screen.text.plain
        assert "name: tuiproj" in text and "alpha:" in text and "beta:" in text and "echo hello-from-beta" in text
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, TextScreen))

        select(app, group)
        await pilot.press("x")  # compose stop
        await until(pilot, lambda: all(c.status == "exited" for c in members(engine, project).values()), 60)
        await until(pilot, lambda: "0/2 running" in str(table.get_row(group)[1]))
        assert engine.container(alone.id).status == "running"

        select(app, group)
        await pilot.press("s")  # compose up: the same containers started again
        await until(pilot, lambda: all(c.status == "running" for c in members(engine, project).values()), 60)
        assert set(members(engine, project)) == set(cs)

        before = {c: engine.container(c).state["StartedAt"] for c in cs}
        select(app, group)
        await pilot.press("R")  # compose restart
        await until(pilot, lambda: all(engine.container(c).state["StartedAt"] != before[c]
                                       and engine.container(c).status == "running" for c in cs), 60)

        select(app, group)
        await pilot.press("d")  # compose down, once confirmed
        await until(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen")
        await pilot.press("y")
        await until(pilot, lambda: not members(engine, project), 60)
        await until(pilot, lambda: group not in table.rows)
        assert not [n for n in engine.networks() if n["Name"] == f"{project}_default"]
        assert alone.id in table.rows
        await pilot.press("q")


async def test_p_pauses_and_unpauses_and_K_kills_a_project_from_its_row(engine, image, project):
    """As on a container's row: p is compose pause (unpause once nothing of it runs but some
    of it is paused), K compose kill; the standalone container is left alone."""
    alone = engine.run(image, ["sleep", "300"], name="ab-standalone", detach=True, network="none")
    cs = members(engine, project)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one("#containers", DataTable)
        group = GROUP + project
        await until(pilot, lambda: group in table.rows and set(cs) <= set(table.rows))
        select(app, group)
        await until(pilot, lambda: "p pause  K kill" in app._detail_title)
        await pilot.press("p")
        await until(pilot, lambda: all(engine.container(c).status == "paused" for c in cs), 60)
        await until(pilot, lambda: "0/2 running, 2 paused" in str(table.get_row(group)[1]))
        assert engine.container(alone.id).status == "running"
        select(app, group)
        await pilot.press("p")
        await until(pilot, lambda: all(engine.container(c).status == "running" for c in cs), 60)
        await until(pilot, lambda: "2/2 running" in str(table.get_row(group)[1]))
        select(app, group)
        await pilot.press("K")
        await until(pilot, lambda: all(engine.container(c).status == "exited" for c in cs), 60)
        assert all(engine.container(c).state["ExitCode"] == 137 for c in cs)
        assert engine.container(alone.id).status == "running"
        await pilot.press("q")


async def test_a_project_command_runs_on_the_row_with_compose_pointed_at_it(engine, image, project, tmp_path):
    """A [[commands]] entry with scope = "project" (lazydocker's services commands): on the
    project's row, or a container of it, its template sees .Project, and `.DockerCompose`
    finds the project (its directory, COMPOSE_PROJECT_NAME, COMPOSE_FILE) wherever the
    dashboard was started; a container's command on the project's row says what to select."""
    from dunnage.tui import config
    from dunnage.tui.app import OutputScreen
    f = tmp_path / "config.toml"
    f.write_text('[[commands]]\nname = "services"\nkey = "U"\nscope = "project"\n'
                 'command = "echo {{ .Project.Name }} {{ len .Project.Containers }}; pwd; '
                 '{{ .DockerCompose }} ps --services"\n'
                 '[[commands]]\nname = "host"\nkey = "G"\ncommand = "echo {{ .Container.Name }}"\n')
    s = config.load(f)
    assert not s.problems, s.problems
    cs = members(engine, project)
    app = DunnageApp(engine, interval=0.3, commands=s.commands)
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(DataTable)
        group = GROUP + project
        await until(pilot, lambda: group in table.rows and set(cs) <= set(table.rows))
        select(app, group)
        await pilot.press("U")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen) and app.screen.exit_code is not None, 60)
        out = app.screen
        assert out.exit_code == 0, out.texts
        assert out.texts == ["tuiproj 2", str(tmp_path / "tuiproj"), "alpha", "beta"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen))
        select(app, next(iter(cs)))  # from one of its containers, too: the palette names it by the project
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"services tuiproj")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen) and app.screen.exit_code is not None, 60)
        assert app.screen.texts[0] == "tuiproj 2"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen))
        select(app, group)
        await pilot.press("G")
        await until(pilot, lambda: any("host: select a container first" in str(n.message)
                                       for n in app._notifications))
        assert not isinstance(app.screen, OutputScreen)
        await pilot.press("q")


async def test_a_project_whose_file_is_gone_tells_so_in_one_line(engine, image, project, tmp_path):
    """up needs the file; its absence is a notification, not a traceback, and stop still works
    from the labels (as `compose -p NAME stop`)."""
    (tmp_path / "tuiproj" / "compose.yaml").rename(tmp_path / "tuiproj" / "moved.yaml")
    try:
        cs = members(engine, project)
        app = DunnageApp(engine, interval=0.3)
        async with app.run_test(size=(100, 30)) as pilot:
            table = app.query_one("#containers", DataTable)
            group = GROUP + project
            await until(pilot, lambda: group in table.rows)
            select(app, group)
            await pilot.press("c")
            await until(pilot, lambda: any("cannot be read" in str(n.message) for n in app._notifications))
            assert not isinstance(app.screen, TextScreen)
            select(app, group)
            await pilot.press("x")
            await until(pilot, lambda: all(engine.container(c).status == "exited" for c in cs), 60)
            await pilot.press("q")
    finally:
        (tmp_path / "tuiproj" / "moved.yaml").rename(tmp_path / "tuiproj" / "compose.yaml")


async def test_the_command_palette_names_each_projects_actions(engine, project):
    cs = members(engine, project)
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: set(cs) <= set(app.rows))
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"compose config tuiproj")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TextScreen) and "name: tuiproj" in app.screen.text.plain)
        await pilot.press("escape")
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"compose stop tuiproj")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await until(pilot, lambda: all(engine.container(c).status == "exited" for c in cs), 60)
        await pilot.press("q")
