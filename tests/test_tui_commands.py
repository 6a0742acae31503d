"""Custom commands from the settings file (issue 23; lazydocker's customCommands, k9s's
plugins): a Go template over the selected container, run from its key, from c's menu, the
command palette and `:`, in the background with its output shown or in the terminal
(attach); listed in the footer and help; a bad entry said in one line, the dashboard
starting without it.  Against real containers, the commands going through the real CLI."""
from __future__ import annotations

import pytest
from textual.widgets import Footer

from dunnage.tui import config
from dunnage.tui.app import DunnageApp, HelpScreen, OutputScreen
from dunnage.tui.page import ContainerScreen
from dunnage.tui.views import CommandsScreen, ConfirmScreen

from conftest import DUNNAGE, Tmux, wait_for
from test_tui import until
from test_tui_bugs import select, toasts

pytestmark = pytest.mark.timeout(120)

SETTINGS = """\
[[commands]]
name = "whoami"
key = "U"
command = "{{ .Dunnage }} exec {{ .Container.ID }} cat /etc/hostname; echo name={{ .Container.Name }}"

[[commands]]
name = "env of"
command = '''dunnage inspect --format '{{ "{{" }}.State.Status{{ "}}" }}' {{ .Container.ShortID }}; echo $DUNNAGE_ROOT'''
description = "its state, through dunnage on PATH"
"""


def settings(tmp_path, text=SETTINGS):
    f = tmp_path / "config.toml"
    f.write_text(text)
    s = config.load(f)
    assert not s.problems, s.problems
    return s


async def output_of(pilot, app) -> OutputScreen:
    await until(pilot, lambda: isinstance(app.screen, OutputScreen) and app.screen.exit_code is not None, 30)
    return app.screen


async def test_a_custom_command_runs_from_its_key_the_menu_the_palette_and_colon(engine, image, tmp_path):
    web = engine.run(image, ["sleep", "300"], name="cc-web", detach=True, network="none", hostname="webhost")
    db = engine.run(image, ["sleep", "300"], name="cc-db", detach=True, network="none", hostname="dbhost")
    s = settings(tmp_path)
    app = DunnageApp(engine, interval=0.3, commands=s.commands, problems=s.problems)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: {web.id, db.id} <= set(app.rows))
        from textual.widgets._footer import FooterKey
        await until(pilot, lambda: app.screen.query(FooterKey))
        assert ("U", "custom_command(0)") in [(k.key, k.action) for k in app.screen.query_one(Footer).query(FooterKey)]

        select(app, web.id)
        await pilot.press("U")  # its key: in the background, the output as it comes
        out = await output_of(pilot, app)
        assert out.exit_code == 0 and out.texts == ["webhost", "name=cc-web"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen))

        select(app, db.id)
        await pilot.press("c")  # lazydocker's c: the menu of them
        await until(pilot, lambda: isinstance(app.screen, CommandsScreen))
        await pilot.press("down", "enter")  # the second: `dunnage` found on PATH, against this store
        out = await output_of(pilot, app)
        assert out.texts == ["running", str(engine.store.root)]
        await pilot.press("escape")

        await pilot.press("ctrl+p")  # the palette names each command on each container
        await pilot.pause(0.3)
        await pilot.press(*"whoami cc-db")
        await pilot.pause(0.5)
        await pilot.press("enter")
        out = await output_of(pilot, app)
        assert out.texts == ["dbhost", "name=cc-db"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen))

        select(app, db.id)
        await pilot.press("colon")  # k9s's : with the command's name and a container's
        await pilot.pause(0.2)
        await pilot.press(*"whoami cc-web", "enter")
        out = await output_of(pilot, app)
        assert out.texts == ["webhost", "name=cc-web"]
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen))

        select(app, db.id)
        app.open_page(web.id)  # on a container's page: its container, whatever the list's cursor
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        await pilot.press("U")
        out = await output_of(pilot, app)
        assert out.texts == ["webhost", "name=cc-web"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CommandsScreen) and "cc-web" in app.screen.target)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen))
        await pilot.press("escape")

        await pilot.press("question_mark")  # help: the keyed one under its key, the other under :NAME
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        rows = dict(app.screen.rows)
        assert rows["U"].startswith("whoami: {{ .Dunnage }} exec")
        assert rows[":env of"] == "env of: its state, through dunnage on PATH"
        await pilot.press("escape", "q")


async def test_closing_a_running_command_ends_it_and_confirm_asks_first(engine, image, tmp_path):
    c = engine.run(image, ["sleep", "300"], name="cc-long", detach=True, network="none")
    s = settings(tmp_path, '[[commands]]\nname = "long"\nkey = "ctrl+u"\nconfirm = true\n'
                           'command = "printf \'\\\\033[32mstarted\\\\033[0m %s\\\\n\' {{ .Container.Name }}; exec sleep 300"\n')
    app = DunnageApp(engine, interval=0.3, commands=s.commands)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        select(app, c.id)
        await pilot.press("ctrl+u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")  # not run
        await pilot.pause(0.3)
        assert not isinstance(app.screen, OutputScreen)
        await pilot.press("ctrl+u")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen) and app.screen.texts == ["started cc-long"])
        out = app.screen
        assert out.exit_code is None and out.proc.poll() is None  # still running
        await pilot.press("escape")
        await until(pilot, lambda: out.proc.poll() is not None)  # the sleep ended with it
        await pilot.press("q")


async def test_a_big_output_comes_in_quickly_and_scrolls(engine, image, tmp_path):
    """200,000 lines (a `seq`, a long log) in the logs' view: seconds, not minutes."""
    import time
    c = engine.run(image, ["sleep", "300"], name="cc-big", detach=True, network="none")
    s = settings(tmp_path, '[[commands]]\nname = "count"\nkey = "U"\ncommand = "seq 1 200000"\n')
    app = DunnageApp(engine, interval=0.3, commands=s.commands)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        select(app, c.id)
        t0 = time.monotonic()
        await pilot.press("U")
        out = await output_of(pilot, app)
        took = time.monotonic() - t0
        assert out.exit_code == 0 and len(out.texts) == 200000 and out.texts[-1] == "200000"
        assert took < 10, took
        view = out.query_one("#output-log")
        await until(pilot, lambda: view.scroll_offset.y == view.max_scroll_y > 0)  # at the end, as it came
        await pilot.press("escape", "q")


async def test_a_bad_entry_is_said_in_one_line_and_the_dashboard_starts_without_it(engine, image, tmp_path):
    c = engine.run(image, ["sleep", "300"], name="cc-bad", detach=True, network="none")
    f = tmp_path / "config.toml"
    f.write_text('[[commands]]\nname = "typo"\ncommand = "echo {{ .Container.Nmae }}"\n'
                 '[[commands]]\nname = "takes x"\nkey = "x"\ncommand = "true"\n'
                 '[[commands]]\nname = "logs tail"\ncommand = "true"\n'
                 '[[commands]]\nname = "to the end"\nkey = "end"\ncommand = "true"\n'
                 '[[commands]]\nname = "good"\nkey = "G"\ncommand = "echo good {{ .Container.Name }}"\n')
    s = config.load(f)
    app = DunnageApp(engine, interval=0.3, commands=s.commands, problems=s.problems)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        said = toasts(app)
        assert len(said) == 4 and all("\n" not in t for t in said)
        assert said[0].startswith(f"{f}: [[commands]] 'typo': command: template:") and "Nmae" in said[0]
        assert said[1] == f"{config.config_path()}: [[commands]] 'takes x': key 'x' is stop's already " \
                          "(another key, or move that one in [keys])"
        assert said[2].endswith("[[commands]] 'logs tail': :logs is the dashboard's own (another name)")
        assert said[3].endswith("[[commands]] 'to the end': key 'end' is the list's scroll end already "
                                "(another key, or move that one in [keys])")
        assert [x.name for x in app.custom] == ["good"]
        select(app, c.id)
        await pilot.press("x")  # still stop
        await until(pilot, lambda: engine.container(c.id).status == "exited", 30)
        await pilot.press("G")
        out = await output_of(pilot, app)
        assert out.texts == ["good cc-bad"]
        await pilot.press("escape", "q")


async def test_with_no_container_selected_it_says_so(engine, image, tmp_path):
    engine.run(image, ["sleep", "300"], name="cc-filtered", detach=True, network="none")
    s = settings(tmp_path)
    app = DunnageApp(engine, interval=0.3, commands=s.commands)
    app.filter_text = "no-such-container"  # an empty list: nothing under the cursor
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.rounds >= 1)
        await pilot.press("U")
        await until(pilot, lambda: any("whoami: select a container first" in t for t in toasts(app)))
        assert not isinstance(app.screen, OutputScreen)
        await pilot.press("q")


def test_custom_commands_in_a_terminal_in_the_background_and_attached(engine, image, tmp_path):
    """As a person runs it: the settings file under XDG_CONFIG_HOME, the key pressed, the
    output read off the screen; an attached command has the terminal, then the dashboard
    comes back."""
    engine.run(image, ["sleep", "300"], name="cc-term", detach=True, network="none", hostname="termhost")
    xdg = tmp_path / "xdg"
    (xdg / "dunnage").mkdir(parents=True)
    (xdg / "dunnage" / "config.toml").write_text(
        '[[commands]]\nname = "files"\nkey = "U"\n'
        'command = "{{ .Dunnage }} exec {{ .Container.ID }} ls /; echo host=$(dunnage exec {{ .Container.Name }}'
        ' hostname)"\n'
        '[[commands]]\nname = "here"\nkey = "ctrl+t"\nattach = true\n'
        'command = "echo attached to {{ .Container.Name }}; read line; echo got $line"\n')
    # (without the COLUMNS and LINES a tmux server started from a shell may hand on: the
    # dashboard would take them over the window's size, and 80 columns cut the footer)
    cmd = f"env -u COLUMNS -u LINES XDG_CONFIG_HOME={xdg} {DUNNAGE} --root {engine.store.root}"
    with Tmux(cmd, 120, 30) as t:
        wait_for(lambda: "cc-term" in t.screen() and "U files" in t.screen(), timeout=20)
        t.keys("U")
        try:
            wait_for(lambda: "files · cc-term · done" in t.screen(), timeout=30)
        except AssertionError:
            print(t.screen()); raise
        screen = t.screen()
        assert "host=termhost" in screen and "etc" in screen.split() and "bin" in screen.split()
        t.keys("Escape")
        wait_for(lambda: "files · cc-term" not in t.screen() and "cc-term" in t.screen(), timeout=10)
        t.keys("C-t")
        wait_for(lambda: "attached to cc-term" in t.screen(), timeout=20)
        assert "U files" not in t.screen()  # the dashboard stepped aside
        t.keys("hello", "Enter")
        wait_for(lambda: "U files" in t.screen() and "cc-term" in t.screen(), timeout=20)  # and came back
        t.keys("q")
        wait_for(lambda: not t.alive(), timeout=10)
