"""Regenerate screenshots/ from a real run: the demo containers in a scratch
store, the dashboard driven by Textual's pilot, screens saved as SVG.

    .venv/bin/python scripts/screenshots.py
"""
from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from dunnage.core import Engine
from dunnage.tui.app import DunnageApp
from dunnage.tui.config import CustomCommand
from dunnage.tui.demo import setup_demo

OUT = Path(__file__).resolve().parent.parent / "screenshots"


COMMANDS = [  # as a settings file's [[commands]] would give them
    CustomCommand("disk usage", "{{ .Dunnage }} exec {{ .Container.ID }} du -sh /bin /etc /usr /tmp", key="U"),
    CustomCommand("processes", "{{ .Dunnage }} top {{ .Container.Name }}", description="dunnage top"),
    CustomCommand("shell", "{{ .Dunnage }} exec -it {{ .Container.ID }} sh", key="ctrl+e", attach=True)]


async def shoot(e: Engine) -> None:
    from dunnage.tui.app import OutputScreen
    app = DunnageApp(e, interval=0.5, commands=COMMANDS)
    async with app.run_test(size=(100, 30)) as pilot:
        async def shot(name: str, keys: tuple = (), wait: float = 0.3) -> None:
            """Press KEYS, let the screen settle for WAIT seconds, save it as NAME.svg."""
            if keys:
                await pilot.press(*keys)
            await pilot.pause(wait)
            app.save_screenshot(f"{name}.svg", str(OUT))

        while app.rounds < 16:  # eight seconds of history in the charts
            await pilot.pause(0.2)
        t = app.query_one("#containers")
        cpu = next(cid for cid, r in app.rows.items() if r.name == "demo-cpu")
        mem = next(cid for cid, r in app.rows.items() if r.name == "demo-mem")
        t.move_cursor(row=t.get_row_index(cpu))
        await shot("dashboard")
        t.move_cursor(row=t.get_row_index(mem))
        await shot("dashboard-memory")
        await shot("dashboard-logs", ("right_square_bracket",), 1.0)  # the detail pane's logs tab
        await pilot.press("left_square_bracket")
        await shot("help", ("question_mark",))
        await shot("confirm-remove", ("escape", "d"))
        await shot("logs", ("n", "l"), 1.0)
        await pilot.press("escape")
        await pilot.pause(0.3)
        t.move_cursor(row=t.get_row_index(cpu))
        await pilot.pause(0.3)
        app.open_page(cpu)
        await shot("page", wait=3.0)
        await shot("page-top", ("2",), 2.5)
        await shot("page-inspect", ("3",), 1.0)
        await shot("page-files", ("4",), 1.5)
        await shot("images", ("escape", "I"), 1.5)
        await shot("run-form", ("c",), 0.5)
        await shot("networks", ("escape", "escape", "N"), 1.5)
        await pilot.press("escape")
        await pilot.pause(0.3)
        t.move_cursor(row=t.get_row_index("compose:shop"))
        await shot("dashboard-compose", wait=0.6)
        await shot("compose-logs", ("l",), 1.0)
        await shot("compose-config", ("escape", "c"), 1.0)
        await pilot.press("escape")
        await pilot.pause(0.3)
        t.move_cursor(row=t.get_row_index(cpu))
        await shot("commands", ("c",), 0.5)  # the custom commands' menu
        await pilot.press("escape", "U")  # one in the background, its output
        while not (isinstance(app.screen, OutputScreen) and app.screen.exit_code is not None):
            await pilot.pause(0.2)
        await shot("command-output")
        await pilot.press("escape", "q")


SHOP = """\
services:
  web:
    image: {image}
    command: sh -c 'echo serving on :80; exec httpd -f -p 80'
    depends_on: [cache]
  cache:
    image: {image}
    command: sh -c 'echo cache ready; while :; do sleep 0.01; done'
"""


def compose_project(e: Engine, root: Path) -> None:
    """A two-service compose project, up as `dunnage compose up -d` brings it up."""
    from dunnage.compose.model import Options, load
    from dunnage.compose.project import Compose
    from dunnage.core.images.demo import DEMO_IMAGE
    d = root / "shop"
    d.mkdir()
    (d / "compose.yaml").write_text(SHOP.format(image=DEMO_IMAGE))
    Compose(e, load(Options(files=[str(d / "compose.yaml")])), out=lambda _: None).up()


def main() -> int:
    OUT.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dunnage-shots-"))
    e = Engine(str(root))
    try:
        setup_demo(e)
        compose_project(e, root)
        asyncio.run(shoot(e))
    finally:
        for c in e.containers(all_=True):
            e.remove(c.id, force=True)
        from dunnage.core.net.config import Networks
        Networks(e.store).destroy_all()
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(sorted(str(p) for p in OUT.glob("*.svg"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
