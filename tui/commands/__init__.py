"""The command line's verbs, one module per verb or verb group.

Each module in MODULES has `register(sub)`: it adds its parser(s) to the top-level
subparsers and sets `fn=cmd_x` (called as `cmd_x(engine, args) -> exit code`).
`tui/cli.py` builds the parser from them in this order (the order of `dunnage --help`)."""
import importlib

MODULES: list[str] = [
    "run", "exec", "ps", "lifecycle", "logs", "inspect", "stats", "top", "files", "images", "registry",
    "network", "volume", "container", "system", "events", "dashboard", "compose", "build",
]


def register_all(sub) -> None:
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
