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
from dunnage.tui.demo import setup_demo

OUT = Path(__file__).resolve().parent.parent / "screenshots"


async def shoot(e: Engine) -> None:
    app = DunnageApp(e, interval=0.5)
    async with app.run_test(size=(100, 30)) as pilot:
        while app.rounds < 16:  # eight seconds of history in the charts
            await pilot.pause(0.2)
        t = app.query_one("#containers")
        cpu = next(cid for cid, r in app.rows.items() if r.name == "demo-cpu")
        t.move_cursor(row=t.get_row_index(cpu))
        await pilot.pause(0.3)
        app.save_screenshot("dashboard.svg", str(OUT))
        mem = next(cid for cid, r in app.rows.items() if r.name == "demo-mem")
        t.move_cursor(row=t.get_row_index(mem))
        await pilot.pause(0.3)
        app.save_screenshot("dashboard-memory.svg", str(OUT))
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        app.save_screenshot("help.svg", str(OUT))
        await pilot.press("escape", "d")
        await pilot.pause(0.3)
        app.save_screenshot("confirm-remove.svg", str(OUT))
        await pilot.press("n", "l")
        await pilot.pause(1.0)
        app.save_screenshot("logs.svg", str(OUT))
        await pilot.press("escape")
        await pilot.pause(0.3)
        t.move_cursor(row=t.get_row_index(cpu))
        await pilot.pause(0.3)
        app.open_page(cpu)
        await pilot.pause(3.0)
        app.save_screenshot("page.svg", str(OUT))
        await pilot.press("2")
        await pilot.pause(2.5)
        app.save_screenshot("page-top.svg", str(OUT))
        await pilot.press("3")
        await pilot.pause(1.0)
        app.save_screenshot("page-inspect.svg", str(OUT))
        await pilot.press("4")
        await pilot.pause(1.5)
        app.save_screenshot("page-files.svg", str(OUT))
        await pilot.press("escape", "I")
        await pilot.pause(1.5)
        app.save_screenshot("images.svg", str(OUT))
        await pilot.press("c")
        await pilot.pause(0.5)
        app.save_screenshot("run-form.svg", str(OUT))
        await pilot.press("escape", "escape", "N")
        await pilot.pause(1.5)
        app.save_screenshot("networks.svg", str(OUT))
        await pilot.press("escape", "q")


def main() -> int:
    OUT.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="dunnage-shots-"))
    e = Engine(str(root))
    try:
        setup_demo(e)
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
