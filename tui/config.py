"""The dashboard's settings file: ``$XDG_CONFIG_HOME/dunnage/config.toml``
(``~/.config/dunnage/config.toml``)::

    [dashboard]
    theme = "ansi-dark"     # any Textual theme; ansi-* use the terminal's 16 colours
    interval = 1.0          # seconds between samples

    [keys]                  # action = "key[,key]"
    stop = "x,ctrl+s"
    remove = "delete"

    [[commands]]            # lazydocker's customCommands, k9s's plugins: over the selected container
    name = "disk usage"
    key = "ctrl+u"          # optional: c lists them all, so do the palette and :
    command = "{{ .Dunnage }} exec {{ .Container.ID }} du -sh /"
    attach = false          # true: the dashboard steps aside and the command has the terminal;
                            # false: it runs in the background, its output shown as it comes
    confirm = false         # true: asked first
    scope = "container"     # or "project": over the selected compose project (lazydocker's services list)

A command is a Go template (lazydocker's: .Container.ID, .Container.Name, .Container.Container.Image…,
.Dunnage the command line against this store; a project's: .Project.Name, .Project.WorkingDir,
.Project.ConfigFiles, .Project.Containers, and .DockerCompose, `dunnage compose` with the project's
COMPOSE_PROJECT_NAME and COMPOSE_FILE set, run in its directory) run by sh; it finds `dunnage` on its
PATH and $DUNNAGE_ROOT set.  A bad file is an error on one line, naming the file and what is wrong; a bad
command entry is left out and said in one line naming it, and the dashboard starts without it."""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path


class ConfigError(Exception):
    pass


@dataclass
class CustomCommand:
    name: str
    command: str  # a Go template over template_data()
    key: str = ""
    attach: bool = False
    confirm: bool = False
    description: str = ""
    scope: str = "container"  # or "project": a compose project's row


@dataclass
class Settings:
    theme: str = "textual-dark"
    interval: float = 1.0
    keys: dict[str, str] = field(default_factory=dict)
    commands: list[CustomCommand] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the entries left out, one line each


COMMAND_FIELDS = {"name": str, "command": str, "key": str, "attach": bool, "confirm": bool, "description": str,
                  "scope": str}
SCOPES = ("container", "project")


def template_data(c: dict, dunnage: str):
    """What a command's template sees, as lazydocker names it: .Container (ID, Name, ProjectName,
    ServiceName…, and .Container.Container, docker's ps entry), .Dunnage and .DockerCompose
    (the command line against this store).  C: ID, Name, Image, ImageID, Command, Created,
    State, Status, Labels."""
    from .gotemplate import Struct
    labels = c.get("Labels") or {}
    ps = Struct({"ID": c["ID"], "Names": ["/" + c["Name"]], "Image": c.get("Image", ""),
                 "ImageID": c.get("ImageID", ""), "Command": c.get("Command", ""), "Created": c.get("Created", 0),
                 "State": c.get("State", ""), "Status": c.get("Status", ""), "Labels": labels}, "Container")
    number = labels.get("com.docker.compose.container-number", "")
    container = Struct({"ID": c["ID"], "ShortID": c["ID"][:12], "Name": c["Name"], "Image": c.get("Image", ""),
                        "State": c.get("State", ""), "Status": c.get("Status", ""),
                        "ProjectName": labels.get("com.docker.compose.project", ""),
                        "ServiceName": labels.get("com.docker.compose.service", ""),
                        "ContainerNumber": number, "OneOff": labels.get("com.docker.compose.oneoff") == "True",
                        "Container": ps}, "Container")
    return Struct({"Container": container, "Dunnage": dunnage, "DockerCompose": f"{dunnage} compose"}, "data")


KEY = re.compile(r"((ctrl|shift|alt|meta|super|hyper)\+)*([A-Za-z0-9]|f[0-9]{1,2}|[a-z_]{2,})")
def project_data(name: str, workdir: str, files: list[str], containers: list[str], dunnage: str):
    """What a project command's template sees: .Project (Name, WorkingDir, ConfigFiles,
    Containers: its containers' names), .Dunnage and .DockerCompose."""
    from .gotemplate import Struct
    project = Struct({"Name": name, "WorkingDir": workdir, "ConfigFiles": list(files),
                      "Containers": list(containers)}, "Project")
    return Struct({"Project": project, "Dunnage": dunnage, "DockerCompose": f"{dunnage} compose"}, "data")


SAMPLE = {"ID": "0" * 64, "Name": "sample", "Image": "sample:latest", "State": "running", "Status": "Up"}


def custom_commands(path: Path, entries) -> tuple[list[CustomCommand], list[str]]:
    """The [[commands]] entries that can run, and a line for each one that cannot (its
    template is run once on a sample container, so a misspelt field is found now)."""
    from .gotemplate import TemplateError, parse
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        return [], [f"{path}: commands must be [[commands]] entries (name, command, key, attach, confirm)"]
    out: list[CustomCommand] = []
    problems: list[str] = []
    for n, e in enumerate(entries, 1):
        name = e.get("name")
        what = f"{path}: [[commands]] " + (repr(name) if isinstance(name, str) and name.strip() else f"entry {n}")
        try:
            for k, v in e.items():
                if k not in COMMAND_FIELDS:
                    raise ConfigError(f"unknown setting {k!r} ({', '.join(COMMAND_FIELDS)})")
                if not isinstance(v, COMMAND_FIELDS[k]):
                    raise ConfigError(f"{k} must be {'true or false' if COMMAND_FIELDS[k] is bool else 'a string'}")
            for k in ("name", "command"):
                if not str(e.get(k, "")).strip():
                    raise ConfigError(f"no {k}")
            if name.strip() != name or any(ch in name for ch in "\n\t"):
                raise ConfigError("a name is one line without spaces around it")
            if any(c.name.lower() == name.lower() for c in out):
                raise ConfigError("a second command of that name")
            for key in e.get("key", "").split(","):
                if e.get("key") and not KEY.fullmatch(key.strip()):
                    raise ConfigError(f"key {key.strip()!r} is not a key (such as \"U\", \"ctrl+u\", \"f5\")")
            if e.get("scope", "container") not in SCOPES:
                raise ConfigError(f"scope must be one of {', '.join(SCOPES)}")
            sample = project_data("sample", "/", ["/compose.yaml"], ["sample-web-1"], "dunnage") \
                if e.get("scope") == "project" else template_data(SAMPLE, "dunnage")
            try:
                parse(e["command"]).execute(sample)
            except TemplateError as ex:
                raise ConfigError(f"command: {ex}") from None
            out.append(CustomCommand(**e))
        except ConfigError as ex:
            problems.append(f"{what}: {ex}")
    return out, problems


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
    unknown = set(data) - {"dashboard", "keys", "commands"}
    if unknown:
        raise ConfigError(f"{path}: unknown section [{sorted(unknown)[0]}] (dashboard, keys, commands)")
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
    if "commands" in data:
        s.commands, s.problems = custom_commands(path, data["commands"])
    return s
