"""The dashboard and the demo."""
from __future__ import annotations

from dunnage.core import Engine


def cmd_demo(e: Engine, a) -> int:
    from dunnage.tui.demo import setup_demo
    setup_demo(e, quiet=False)
    if a.no_tui:
        return 0
    from dunnage.tui.app import run_app
    return run_app(e)


def cmd_dashboard(e: Engine, a) -> int:
    from dunnage.tui.app import run_app
    return run_app(e)


def register(sub) -> None:
    p = sub.add_parser("demo", help="build the demo image, start demo containers, open the dashboard")
    p.add_argument("--no-tui", action="store_true", help="only set up")
    p.set_defaults(fn=cmd_demo)
