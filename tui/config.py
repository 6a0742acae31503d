"""The dashboard's settings file: ``$XDG_CONFIG_HOME/dunnage/config.toml``
(``~/.config/dunnage/config.toml``)::

    [dashboard]
    theme = "ansi-dark"     # any Textual theme; ansi-* use the terminal's 16 colours
    interval = 1.0          # seconds between samples

    [keys]                  # action = "key[,key]"
    stop = "x,ctrl+s"
    remove = "delete"

A bad file is an error on one line, naming the file and what is wrong."""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass
class Settings:
    theme: str = "textual-dark"
    interval: float = 1.0
    keys: dict[str, str] = field(default_factory=dict)


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "dunnage" / "config.toml"


def load(path: Path | None = None, actions: set[str] = frozenset(), themes: set[str] = frozenset()) -> Settings:
    path = path or config_path()
    s = Settings()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return s
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{path}: {e}") from None
    unknown = set(data) - {"dashboard", "keys"}
    if unknown:
        raise ConfigError(f"{path}: unknown section [{sorted(unknown)[0]}] (dashboard, keys)")
    dash = data.get("dashboard", {})
    for k, v in dash.items():
        if k == "theme":
            if not isinstance(v, str) or (themes and v not in themes):
                raise ConfigError(f"{path}: unknown theme {v!r} (one of: {', '.join(sorted(themes))})")
            s.theme = v
        elif k == "interval":
            if not isinstance(v, (int, float)) or not 0.1 <= v <= 60:
                raise ConfigError(f"{path}: interval must be a number of seconds between 0.1 and 60")
            s.interval = float(v)
        else:
            raise ConfigError(f"{path}: unknown setting dashboard.{k} (theme, interval)")
    for action, keys in data.get("keys", {}).items():
        if actions and action not in actions:
            raise ConfigError(f"{path}: no action {action!r} to bind (one of: {', '.join(sorted(actions))})")
        if not isinstance(keys, str) or not keys.strip():
            raise ConfigError(f"{path}: keys.{action} must be a string such as \"x\" or \"x,ctrl+s\"")
        s.keys[action] = keys
    return s
