"""The command line's verbs, one module per verb or verb group.

Each module in MODULES has `register(sub)`: it adds its parser(s) to the top-level
subparsers and sets `fn=cmd_x` (called as `cmd_x(engine, args) -> exit code`).
`tui/cli.py` builds the parser from them in this order (the order of `dunnage --help`)."""
from __future__ import annotations

import importlib

MODULES: list[str] = [
    "run", "exec", "ps", "lifecycle", "logs", "inspect", "stats", "top", "files", "images", "registry",
    "network", "volume", "container", "system", "events", "dashboard", "compose", "build",
]


# the module that registers each top-level verb: a command run in its own process builds
# only its verb's parser (building all of them is ~10 ms of every such command); checked
# against the registrations by tests/unit/test_imports.py
VERBS: dict[str, str] = {
    "run": "run", "create": "run", "exec": "exec", "attach": "exec", "ps": "ps", "start": "lifecycle",
    "stop": "lifecycle", "kill": "lifecycle", "rm": "lifecycle", "pause": "lifecycle", "unpause": "lifecycle",
    "restart": "lifecycle", "rename": "lifecycle", "update": "lifecycle", "wait": "lifecycle", "logs": "logs",
    "inspect": "inspect", "stats": "stats", "top": "top", "cp": "files", "export": "files", "diff": "files",
    "commit": "files", "images": "images", "pull": "images", "push": "images", "rmi": "images", "tag": "images",
    "load": "images", "save": "images", "import": "images", "image": "images", "history": "images", "login": "registry",
    "logout": "registry", "network": "network", "port": "network", "volume": "volume", "container": "container",
    "system": "system", "info": "system", "version": "system", "events": "events", "demo": "dashboard",
    "compose": "compose", "build": "build", "builder": "build",
}


# docker's management commands run the other verbs through the whole parser (grammar.run_verb)
MANAGEMENT = ("container", "image")


def register_all(sub, verb: str | None = None) -> None:
    """Every module's parsers; with VERB (one of VERBS), only those of its module."""
    for name in [VERBS[verb]] if verb in VERBS and verb not in MANAGEMENT else MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub)
