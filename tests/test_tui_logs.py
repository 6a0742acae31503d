"""The dashboard's log view: long lines wrap on W, and S and T read the log again from a time
on or its last lines only, as `dunnage logs --since/--tail` do (issue 23)."""
from __future__ import annotations

import time

import pytest

from dunnage.tui.app import DunnageApp
from dunnage.tui.logview import LogsScreen

pytestmark = pytest.mark.timeout(120)


async def until(pilot, pred, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        await pilot.pause(0.05)
    raise AssertionError("the dashboard did not get there in time")


async def open_logs(pilot, app, engine, c, name):
    await until(pilot, lambda: c.id in app.rows)
    app.push_screen(LogsScreen(engine, c.id, name))
    await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen.query("#log"))
    return app.screen


async def ask(pilot, app, key, answer):
    await pilot.press(key)
    await until(pilot, lambda: app.screen.query("#answer"))
    app.screen.query_one("#answer").value = answer
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, LogsScreen))


def rows(view) -> list[str]:
    return [view.render_line(y).text.rstrip() for y in range(view.size.height)]


async def test_long_lines_wrap_and_unwrap(engine, image):
    long = "".join(f"{i:03d}-" for i in range(60))  # 240 characters, each stretch of it unique
    c = engine.run(image, ["sh", "-c", f"echo {long}; echo short; exec sleep 300"], name="logwrap", detach=True,
                   network="none")
    app = DunnageApp(engine, interval=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        scr = await open_logs(pilot, app, engine, c, "logwrap")
        view = scr.view
        await until(pilot, lambda: view.texts == [long, "short"])
        await pilot.pause(0.1)
        width = view.scrollable_content_region.width
        assert rows(view)[:2] == [long[:width], "short"]  # cut at the edge, one row a line
        await pilot.press("W")
        await until(pilot, lambda: "wrapped" in scr.sub_title)
        await pilot.pause(0.1)
        shown = rows(view)
        n = -(-len(long) // width)
        assert n >= 3 and "".join(shown[:n]) == long and all(len(r) <= width for r in shown[:n])
        assert shown[n] == "short"
        assert view.max_scroll_x == 0  # nothing to scroll sideways to
        await pilot.press("t")  # a timestamp makes the line longer: it takes the rows it needs
        await pilot.pause(0.2)
        shown = rows(view)
        stamped = view.line(0)
        m = -(-len(stamped) // width)
        assert "".join(shown[:m]) == stamped and shown[m].endswith("Z short")
        await pilot.press("t", "W")
        await until(pilot, lambda: "wrapped" not in scr.sub_title)
        await pilot.pause(0.1)
        assert rows(view)[:2] == [long[:width], "short"]
        from dunnage.tui.app import help_rows
        helped = dict(help_rows(scr))  # the help screen lists the new keys, as bound
        assert helped["W"].startswith("wrap long lines") and helped["S"].startswith("read the log again from a time")
        assert helped["T"].startswith("read the log again from its last N lines")
        await pilot.press("q")


async def test_since_and_tail_read_the_log_again(engine, image):
    c = engine.run(image, ["sh", "-c", "echo old-1; echo old-2; sleep 1; echo new-1; echo new-2; echo new-3; "
                           "while [ ! -e /tmp/go ]; do sleep 0.05; done; echo late; exec sleep 300"],
                   name="logsince", detach=True, network="none")
    app = DunnageApp(engine, interval=1.0)
    async with app.run_test(size=(100, 30)) as pilot:
        scr = await open_logs(pilot, app, engine, c, "logsince")
        view = scr.view
        everything = ["old-1", "old-2", "new-1", "new-2", "new-3"]
        await until(pilot, lambda: view.texts == everything)
        between = (view.times[1] + view.times[2]) / 2e9  # in the second the container slept
        await ask(pilot, app, "S", f"{between:.3f}")  # a unix time
        await until(pilot, lambda: view.texts == ["new-1", "new-2", "new-3"])
        assert f"since {between:.3f}" in scr.sub_title
        await pilot.pause(0.3)
        assert view.texts == ["new-1", "new-2", "new-3"]  # the reading before is gone, not appended again
        assert rows(view)[:4] == ["new-1", "new-2", "new-3", ""]
        await ask(pilot, app, "S", "10m")  # ten minutes back: all of it
        await until(pilot, lambda: view.texts == everything)
        await ask(pilot, app, "S", "yesterday")  # not a time: said, and nothing changes
        await until(pilot, lambda: any("invalid value for --since: yesterday" in str(n.message)
                                       for n in app._notifications))
        assert view.texts == everything and "since 10m" in scr.sub_title
        await ask(pilot, app, "S", "0")  # the epoch: from the start again
        await ask(pilot, app, "T", "2")
        await until(pilot, lambda: view.texts == ["new-2", "new-3"])
        assert scr.sub_title.endswith("following · tail 2")
        await ask(pilot, app, "T", "-3")
        await until(pilot, lambda: any('invalid value for tail: "-3"' in str(n.message) for n in app._notifications))
        assert view.texts == ["new-2", "new-3"]
        assert engine.exec(c.id, ["touch", "/tmp/go"]) == 0
        await until(pilot, lambda: view.texts == ["new-2", "new-3", "late"])  # and it follows on from there
        await ask(pilot, app, "T", "all")
        await until(pilot, lambda: view.texts == everything + ["late"])
        assert scr.sub_title.endswith("following")
        await pilot.press("q")
