"""The compose model: the files found and read as Compose does, interpolated, checked,
merged, with their `include`s, `extends` and profiles, normalised (compose-go's loader).

`load(Options)` gives a Project: its name, working directory, files, and the services,
networks and volumes in their long forms (each service's ports, volumes, depends_on,
networks, environment as mappings or lists of mappings, paths absolute), as `compose
config` prints it.  Pure: it reads files and the environment it is handed, nothing else."""
from __future__ import annotations

import json
import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from dunnage.core.errors import InvalidParameter, NotFound

from .interpolate import interpolate, parse_dotenv
from .schema import validate

COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDES = {"compose.yaml": "compose.override", "compose.yml": "compose.override",
             "docker-compose.yaml": "docker-compose.override", "docker-compose.yml": "docker-compose.override"}
_PROJECT = re.compile(r"[a-z0-9][a-z0-9_-]*")
CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")
# what a service's configuration hash leaves out: they change no container (compose's ServiceHash)
UNHASHED = ("build", "pull_policy", "scale", "profiles", "extends")


class ComposeError(InvalidParameter):
    """A compose file or project that cannot be used: compose exits 1 with one line."""

    def __init__(self, message: str):
        super().__init__(message, 1)


# ------------------------------------------------------------------ YAML
class Reset:
    """`!reset`: the merge drops the key (or the item) from the files before."""
    compose_tag = "reset"


@dataclass
class Override:
    """`!override VALUE`: the merge takes VALUE as it is instead of merging into it."""
    value: object
    compose_tag = "override"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """PyYAML reading plain scalars as compose's Go YAML (yaml.v3, the YAML 1.2 core schema)
    does, not as YAML 1.1: yes/no/on/off are words (`restart: no`), 22:22 is no base-60
    number (`ports: [22:22]`), 2024-01-01 no date; 0o17 and 017 octal, 1_000 a thousand."""


_YAML = "tag:yaml.org,2002:"
_YAML_1_1 = {_YAML + "bool", _YAML + "int", _YAML + "float", _YAML + "timestamp"}
_Loader.yaml_implicit_resolvers = {k: [(tag, rx) for tag, rx in v if tag not in _YAML_1_1]
                                   for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_YAML + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    _YAML + "int", re.compile(r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|0[0-7_]*|[1-9][0-9_]*)$"),
    list("-+0123456789"))
_Loader.add_implicit_resolver(
    _YAML + "float", re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
                                r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+.0123456789"))


def _int(loader, node) -> int:
    """An integer as Go's ParseInt reads it with base 0, underscores dropped (yaml.v3)."""
    text = loader.construct_scalar(node).replace("_", "")
    sign, body = (-1, text[1:]) if text[:1] == "-" else (1, text.lstrip("+"))
    if body[:2] in ("0b", "0o", "0x"):
        return sign * int(body[2:], {"b": 2, "o": 8, "x": 16}[body[1]])
    return sign * int(body, 8 if len(body) > 1 and body[0] == "0" else 10)


_Loader.add_constructor(_YAML + "int", _int)


def _reset(loader, node):
    return Reset()


def _override(loader, node):
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))


_Loader.add_constructor("!reset", _reset)
_Loader.add_constructor("!override", _override)


def read_yaml(text: str, where: str) -> dict:
    try:
        doc = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as ex:
        mark = getattr(ex, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(ex, "problem", None) or str(ex).splitlines()[0]
        raise ComposeError(f"yaml: {where}{at}: {problem}") from None
    if doc is None:
        raise ComposeError(f"empty compose file: {where}")
    if not isinstance(doc, dict):
        raise ComposeError(f"validating {where}: top-level object must be a mapping")
    return doc


def _unwrap(v):
    """A value with its !override tags taken off (what is left after the merge)."""
    if isinstance(v, Override):
        return _unwrap(v.value)
    if isinstance(v, dict):
        return {k: _unwrap(x) for k, x in v.items() if not isinstance(x, Reset)}
    if isinstance(v, list):
        return [_unwrap(x) for x in v if not isinstance(x, Reset)]
    return v


def _interp(node, lookup, warn):
    if isinstance(node, Override):
        return Override(_interp(node.value, lookup, warn))
    if isinstance(node, dict):
        return {k: _interp(v, lookup, warn) for k, v in node.items()}
    if isinstance(node, list):
        return [_interp(v, lookup, warn) for v in node]
    return interpolate(node, lookup, warn)


# ------------------------------------------------------------------ options
@dataclass
class Options:
    """The command line's project options (-f, -p, --profile, --env-file, --project-directory)."""
    files: list[str] = field(default_factory=list)
    project_name: Optional[str] = None
    profiles: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    project_directory: Optional[str] = None
    environ: Optional[dict] = None  # None: os.environ
    cwd: Optional[str] = None
    stdin: Optional[str] = None  # the text of `-f -`


@dataclass
class Project:
    name: str
    working_dir: str
    config_files: list[str]
    services: dict[str, dict]
    networks: dict[str, dict]
    volumes: dict[str, dict]
    environment: dict[str, str]
    disabled: dict[str, dict] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extras: dict = field(default_factory=dict)  # the top-level secrets and configs

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "services": {k: self.services[k] for k in sorted(self.services)}}
        if self.networks:
            out["networks"] = {k: self.networks[k] for k in sorted(self.networks)}
        if self.volumes:
            out["volumes"] = {k: self.volumes[k] for k in sorted(self.volumes)}
        out.update(self.extras)
        return out

    def yaml(self) -> str:
        """As `compose config` prints it: name first, each section's keys sorted."""
        d = self.to_dict()
        parts = [yaml.safe_dump({"name": d.pop("name")}, sort_keys=True, default_flow_style=False)]
        for k, v in d.items():
            parts.append(yaml.safe_dump({k: v}, sort_keys=True, default_flow_style=False, width=10**6))
        return "".join(parts)

    def service_order(self, names: Optional[list[str]] = None, with_deps: bool = True) -> list[str]:
        """NAMES (all: None) and, WITH_DEPS, what they depend on, dependencies first."""
        want = list(self.services) if not names else list(names)
        for n in want:
            if n not in self.services:
                raise NotFound(f"no such service: {n}", 1)
        seen: dict[str, int] = {}
        order: list[str] = []

        def visit(n: str, chain: list[str]) -> None:
            if seen.get(n) == 2:
                return
            if seen.get(n) == 1:
                raise ComposeError(f"dependency cycle detected: {' -> '.join(chain + [n])}")
            seen[n] = 1
            if with_deps or n not in want:
                for d in sorted(self.services[n].get("depends_on") or {}):
                    if d in self.services:
                        visit(d, chain + [n])
            seen[n] = 2
            order.append(n)
        for n in sorted(want):
            visit(n, [])
        return order

    def config_hash(self, name: str) -> str:
        import hashlib
        svc = {k: v for k, v in self.services[name].items() if k not in UNHASHED}
        if isinstance(svc.get("deploy"), dict):
            svc["deploy"] = {k: v for k, v in svc["deploy"].items() if k != "replicas"}
        return hashlib.sha256(json.dumps(svc, sort_keys=True, default=str).encode()).hexdigest()

    def file_content(self, kind: str, key: str) -> Optional[str]:
        """The value of secret or config KEY (KIND "secrets" or "configs") that compose copies
        into a container: its `content`, or its `environment` variable's value from the
        project's environment; None for a `file:` one, which is bound."""
        obj = (self.extras.get(kind) or {}).get(key) or {}
        if obj.get("content") is not None:
            return str(obj["content"])
        var = obj.get("environment")
        if var is None:
            return None
        if var not in self.environment:
            raise ComposeError(f'environment variable "{var}" required by {kind[:-1]} '
                               f'"{obj.get("name") or self.name + "_" + key}" is not set')
        return self.environment[var]

    def replicas(self, name: str) -> int:
        svc = self.services[name]
        if svc.get("scale") is not None:
            return int(svc["scale"])
        rep = (svc.get("deploy") or {}).get("replicas")
        return 1 if rep is None else int(rep)


def normalize_project_name(name: str) -> str:
    """compose-go's NormalizeProjectName: lower case, only [a-z0-9_-], starting with [a-z0-9]."""
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    return name.lstrip("_-")


def check_project_name(name: str) -> str:
    if not _PROJECT.fullmatch(name):
        raise ComposeError(f'invalid project name "{name}": must consist only of lowercase alphanumeric '
                           "characters, hyphens, and underscores as well as start with a letter or number")
    return name


# ------------------------------------------------------------------ finding the files
def find_files(cwd: str) -> list[str]:
    """compose.yaml (or its older names) in CWD or the nearest directory above it that has
    one, with its override file beside it."""
    d = Path(cwd).resolve()
    while True:
        found = [n for n in COMPOSE_FILES if (d / n).is_file()]
        if found:
            main = d / found[0]
            out = [str(main)]
            stem = OVERRIDES[found[0]]
            for ext in (".yaml", ".yml"):
                if (d / (stem + ext)).is_file():
                    out.append(str(d / (stem + ext)))
                    break
            return out
        if d.parent == d:
            raise NotFound("no configuration file provided: not found", 1)
        d = d.parent


def _read_env_file(path: str, lookup, required: bool = True) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except FileNotFoundError:
        if required:
            raise NotFound(f"couldn't find env file: {path}", 1) from None
        return {}
    except OSError as ex:
        raise ComposeError(f"open {path}: {ex.strerror.lower()}") from None
    except UnicodeDecodeError:
        raise ComposeError(f"env file {path} contains invalid utf8 bytes") from None
    return parse_dotenv(text, lookup, path)


# ------------------------------------------------------------------ load
def load(opts: Options, requested: Optional[list[str]] = None) -> Project:
    """The project OPTS describe; REQUESTED services (named on the command line) are enabled
    whatever their profiles, with what they depend on."""
    environ = dict(os.environ if opts.environ is None else opts.environ)
    cwd = os.path.abspath(opts.cwd or os.getcwd())
    warnings: list[str] = []
    first_dir = os.path.abspath(os.path.join(cwd, opts.project_directory)) if opts.project_directory else cwd
    dotenv = _dotenv(opts, first_dir, environ, cwd)
    env = {**dotenv, **environ}

    files = list(opts.files)
    if not files and env.get("COMPOSE_FILE"):
        sep = env.get("COMPOSE_PATH_SEPARATOR") or os.pathsep
        files = [f for f in env["COMPOSE_FILE"].split(sep) if f]
    if files:
        paths = ["-" if f == "-" else os.path.abspath(os.path.join(first_dir if not opts.files else cwd, f))
                 for f in files]
    else:
        paths = find_files(first_dir)
    if opts.project_directory:
        workdir = first_dir
    else:
        workdir = cwd if paths[0] == "-" else os.path.dirname(paths[0])
        if workdir != first_dir and not opts.env_files:
            dotenv = _dotenv(opts, workdir, environ, cwd)
            env = {**dotenv, **environ}

    def lookup(name: str) -> Optional[str]:
        return env.get(name)

    def warn(msg: str) -> None:
        if msg not in warnings:
            warnings.append(msg)

    merged: dict = {}
    for path in paths:
        doc = _load_file(path, workdir, lookup, warn, opts.stdin, set())
        merged = merge_documents(merged, doc) if merged else doc
    merged = _unwrap(merged)

    name = _project_name(opts, env, merged, workdir)
    services = merged.get("services") or {}
    for sname, svc in services.items():
        svc.pop("extends", None)
    profiles = list(opts.profiles) or [p for p in (env.get("COMPOSE_PROFILES") or "").split(",") if p]
    active, disabled = _apply_profiles(services, profiles, requested or [])
    networks = _networks(merged.get("networks") or {}, name, active)
    volumes = _volumes(merged.get("volumes") or {}, name)
    extras = {k: merged[k] for k in ("secrets", "configs") if merged.get(k)}
    _check_references(active, disabled, networks, volumes, extras)
    _check_file_objects(extras)
    for sname, svc in active.items():
        _check_reservation(sname, svc)
    return Project(name, workdir, paths, active, networks, volumes, env, disabled, warnings, extras)


def _dotenv(opts: Options, directory: str, environ: dict, cwd: str) -> dict[str, str]:
    if opts.env_files:
        out: dict = {}
        for f in opts.env_files:
            p = os.path.abspath(os.path.join(cwd, f))
            out.update(_read_env_file(p, lambda n: environ.get(n, out.get(n))))
        return out
    p = os.path.join(directory, ".env")
    if os.path.isdir(p):
        return {}
    return _read_env_file(p, environ.get, required=False)


def _project_name(opts: Options, env: dict, merged: dict, workdir: str) -> str:
    if opts.project_name:
        return check_project_name(opts.project_name)
    if env.get("COMPOSE_PROJECT_NAME"):
        return check_project_name(env["COMPOSE_PROJECT_NAME"])
    if merged.get("name"):
        return check_project_name(str(merged["name"]))
    name = normalize_project_name(os.path.basename(workdir.rstrip("/")) or "default")
    if not name:
        raise ComposeError(f'project name must not be empty: "{os.path.basename(workdir)}" has none of '
                           "[a-z0-9_-] (give one with -p)")
    return name


def _load_file(path: str, workdir: str, lookup, warn, stdin: Optional[str], seen: set) -> dict:
    """One file, interpolated, checked, its includes and extends resolved, its services
    normalised with paths relative to WORKDIR."""
    if path == "-":
        text, where = stdin if stdin is not None else sys.stdin.read(), "(stdin)"
    else:
        where = path
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise NotFound(f"open {path}: no such file or directory", 1) from None
        except IsADirectoryError:
            raise ComposeError(f"read {path}: is a directory") from None
        except OSError as ex:
            raise ComposeError(f"open {path}: {ex.strerror.lower()}") from None
    raw = read_yaml(text, where)
    doc = _interp(raw, lookup, warn)
    validate(doc, where)
    doc = {k: v for k, v in doc.items() if not str(k).startswith("x-")}
    services = {}
    for name, svc in (doc.get("services") or {}).items():
        services[name] = normalize_service(name, svc or {}, workdir, lookup, where)
    doc["services"] = services
    for key in ("secrets", "configs"):
        for obj in (doc.get(key) or {}).values():
            if isinstance(obj, dict) and obj.get("file"):
                obj["file"] = _abs(obj["file"], workdir)
    if doc.get("include"):
        _apply_include(doc, path, workdir, lookup, warn, seen)
    _resolve_extends(doc, path, workdir, lookup, warn, seen)
    return doc


def _apply_include(doc: dict, path: str, workdir: str, lookup, warn, seen: set) -> None:
    for inc in doc.pop("include"):
        inc = {"path": inc} if isinstance(inc, str) else inc
        paths = inc["path"] if isinstance(inc["path"], list) else [inc["path"]]
        paths = [os.path.abspath(os.path.join(workdir, p)) for p in paths]
        for p in paths:
            if p in seen:
                raise ComposeError(f"include cycle detected: {p}")
        sub_dir = os.path.abspath(os.path.join(workdir, inc.get("project_directory") or os.path.dirname(paths[0])))
        env_files = inc.get("env_file")
        env: dict = {}
        if env_files:
            for f in env_files if isinstance(env_files, list) else [env_files]:
                env.update(_read_env_file(os.path.abspath(os.path.join(workdir, f)), lookup))
        elif os.path.isfile(os.path.join(sub_dir, ".env")):
            env = _read_env_file(os.path.join(sub_dir, ".env"), lookup)

        def sub_lookup(n, env=env):
            v = lookup(n)
            return v if v is not None else env.get(n)
        included: dict = {}
        for p in paths:
            sub = _load_file(p, sub_dir, sub_lookup, warn, None, seen | {p, path})
            included = merge_documents(included, sub) if included else sub
        included = _unwrap(included)
        for key in ("services", "networks", "volumes", "secrets", "configs"):
            for name, v in (included.get(key) or {}).items():
                mine = doc.setdefault(key, {}) if doc.get(key) is not None else doc.setdefault(key, {})
                if name in mine and mine[name] != v:
                    raise ComposeError(f"{key}.{name} conflicts with imported resource")
                mine[name] = v


def _resolve_extends(doc: dict, path: str, workdir: str, lookup, warn, seen: set) -> None:
    services = doc["services"]
    done: dict[str, dict] = {}

    def resolve(name: str, chain: list[str]) -> dict:
        if name in done:
            return done[name]
        if name in chain:
            raise ComposeError(f"circular reference with extends in {path}: {' -> '.join(chain + [name])}")
        svc = services[name]
        ext = svc.get("extends")
        if ext is None:
            done[name] = svc
            return svc
        ext = {"service": ext} if isinstance(ext, str) else ext
        base_name = ext["service"]
        if ext.get("file"):
            fpath = os.path.abspath(os.path.join(workdir if path == "-" else os.path.dirname(path), ext["file"]))
            if fpath in seen:
                raise ComposeError(f"circular reference with extends: {fpath}")
            other = _load_file(fpath, os.path.dirname(fpath), lookup, warn, None, seen | {path})
            other = _unwrap(other)
            if base_name not in (other.get("services") or {}):
                raise ComposeError(f'cannot extend service "{name}" in {path}: service "{base_name}" not found '
                                   f"in {fpath}")
            base = other["services"][base_name]
        else:
            if base_name not in services:
                raise ComposeError(f'cannot extend service "{name}" in {path}: service "{base_name}" not found')
            base = resolve(base_name, chain + [name])
        base = {k: v for k, v in base.items() if k != "extends"}
        out = merge_service(base, {k: v for k, v in svc.items() if k != "extends"})
        done[name] = out
        return out
    for n in list(services):
        services[n] = resolve(n, [])


# ------------------------------------------------------------------ profiles, references
def _apply_profiles(services: dict, profiles: list[str], requested: list[str]):
    on = set(profiles)
    active = {n: s for n, s in services.items()
              if not s.get("profiles") or "*" in on or on & set(s["profiles"]) or n in requested}
    todo = [n for n in requested if n in services]
    while todo:  # what a service named on the command line depends on comes with it
        n = todo.pop()
        for d in services[n].get("depends_on") or {}:
            if d in services and d not in active:
                active[d] = services[d]
                todo.append(d)
    disabled = {n: s for n, s in services.items() if n not in active}
    return active, disabled


def _check_references(services: dict, disabled: dict, networks: dict, volumes: dict, extras=None) -> None:
    for name, svc in services.items():
        for dep, d in (svc.get("depends_on") or {}).items():
            if dep not in services and d.get("required", True):
                what = "disabled" if dep in disabled else "undefined"
                raise ComposeError(f'service "{name}" depends on {what} service "{dep}": invalid compose project')
        for net in svc.get("networks") or {}:
            if net not in networks:
                raise ComposeError(f'service "{name}" refers to undefined network {net}: invalid compose project')
        for v in svc.get("volumes") or []:
            if v["type"] == "volume" and v.get("source") and v["source"] not in volumes:
                raise ComposeError(f'service "{name}" refers to undefined volume {v["source"]}: '
                                   "invalid compose project")
        for key in ("secrets", "configs"):
            for item in svc.get(key) or []:
                src = item.get("source") if isinstance(item, dict) else item
                if src not in (extras or {}).get(key, {}):
                    raise ComposeError(f'service "{name}" refers to undefined {key[:-1]} {src}: '
                                       "invalid compose project")
                if isinstance(item, dict):
                    _check_file_reference(name, key, item)
        mode = svc.get("network_mode") or ""
        if mode.startswith("service:") and mode[8:] not in services:
            raise ComposeError(f'service "{name}" refers to undefined service {mode[8:]} in network_mode')
        if mode and svc.get("networks"):
            raise ComposeError(f'service "{name}" declares mutually exclusive `network_mode` and `networks`')


def _check_file_reference(service: str, key: str, item: dict) -> None:
    """A service's long secret or config: uid and gid numbers, mode an octal one."""
    for k in ("uid", "gid"):
        v = item.get(k)
        if v is not None and not str(v).isdigit():
            raise ComposeError(f'service "{service}": {key}.{item.get("source")}.{k} "{v}" is not a number')
    mode = item.get("mode")
    if mode is not None:
        try:
            item["mode"] = _file_mode(mode)
        except ValueError:
            raise ComposeError(f'service "{service}": {key}.{item.get("source")}.mode "{mode}" is not an octal '
                               "file mode") from None


def _file_mode(v) -> int:
    """compose-go's FileMode: a number as YAML gives it (0440 is octal there), or octal text."""
    if isinstance(v, bool):
        raise ValueError(v)
    m = v if isinstance(v, int) else int(str(v), 8)
    if not 0 <= m <= 0o7777:
        raise ValueError(v)
    return m


def _check_reservation(name: str, svc: dict) -> None:
    """compose-go's check of mem_reservation against deploy.resources.reservations (both
    given: the same number of bytes)."""
    from dunnage.core.units import UnitError, parse_size
    res = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations")
    if svc.get("mem_reservation") is None or res is None:
        return
    try:
        same = parse_size(str(svc["mem_reservation"])) == parse_size(str(res.get("memory") or 0))
    except UnitError:
        return  # create names a bad size
    if not same:
        raise ComposeError(f"services.{name}: can't set distinct values on 'mem_reservation' and "
                           "'deploy.resources.reservations.memory': invalid compose project")


def _check_file_objects(extras: dict) -> None:
    """What compose-go checks of the top-level secrets (and configs): where the value comes from."""
    for key in ("secrets", "configs"):
        for name, obj in (extras.get(key) or {}).items():
            obj = obj or {}
            ext, _ = _external(obj)
            if ext:
                continue
            if key == "secrets" and not obj.get("file") and obj.get("environment") is None:
                raise ComposeError(f'secret "{name}" must declare either `file` or `environment`: '
                                   "invalid compose project")
            if key == "configs" and not obj.get("file") and obj.get("environment") is None \
                    and obj.get("content") is None:
                raise ComposeError(f'config "{name}" must declare either `file`, `environment` or `content`: '
                                   "invalid compose project")


def _external(v) -> tuple[bool, Optional[str]]:
    ext = v.get("external")
    if isinstance(ext, dict):
        return True, ext.get("name")
    if isinstance(ext, str):
        return ext.lower() == "true", None
    return bool(ext), None


def _networks(decl: dict, project: str, services: dict) -> dict:
    used_default = False
    for svc in services.values():
        if not svc.get("network_mode") and not svc.get("networks"):
            svc["networks"] = {"default": None}
        if "default" in (svc.get("networks") or {}):
            used_default = True
    out = {}
    for name, v in decl.items():
        v = dict(v or {})
        ext, ext_name = _external(v)
        if ext:
            v["external"] = True
            v["name"] = v.get("name") or ext_name or name
        else:
            v.pop("external", None)
            v["name"] = v.get("name") or f"{project}_{name}"
        if v.get("labels") is not None:
            v["labels"] = _mapping(v["labels"], "labels")
        out[name] = v
    if used_default and "default" not in out:
        out["default"] = {"name": f"{project}_default"}
    return out


def _volumes(decl: dict, project: str) -> dict:
    out = {}
    for name, v in decl.items():
        v = dict(v or {})
        ext, ext_name = _external(v)
        if ext:
            v["external"] = True
            v["name"] = v.get("name") or ext_name or name
        else:
            v.pop("external", None)
            v["name"] = v.get("name") or f"{project}_{name}"
        if v.get("labels") is not None:
            v["labels"] = _mapping(v["labels"], "labels")
        out[name] = v
    return out


# ------------------------------------------------------------------ normalisation
def _mapping(v, key: str, sep: str = "=") -> dict:
    """A list of KEY=VALUE (KEY alone: None) or a mapping, as a mapping of strings."""
    if isinstance(v, (Reset, Override)):
        return v
    if isinstance(v, dict):
        return {str(k): None if x is None else _scalar_text(x) for k, x in v.items()}
    out = {}
    for item in v or []:
        k, s, x = str(item).partition(sep)
        out[k] = x if s else None
    return out


def _scalar_text(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    return str(x)


def _abs(p: str, base: str) -> str:
    p = os.path.expanduser(p)
    return os.path.normpath(os.path.join(base, p))


def _argv(v):
    if v is None or isinstance(v, (Reset, Override)):
        return v
    if isinstance(v, str):
        try:
            return shlex.split(v)
        except ValueError as ex:
            raise ComposeError(f"invalid command line {v!r}: {ex}") from None
    return [_scalar_text(x) for x in v]


def parse_port(p, where: str) -> list[dict]:
    """A ports entry, short ("[ip:][host:]container[/proto]", ranges too) or long, as long ones."""
    if isinstance(p, dict):
        out = {"mode": p.get("mode") or "ingress", "target": int(p["target"]) if "target" in p else None,
               "protocol": p.get("protocol") or "tcp"}
        if out["target"] is None:
            raise ComposeError(f"{where}: a port's target is required")
        if p.get("published") is not None:
            out["published"] = str(p["published"])
        if p.get("host_ip"):
            out["host_ip"] = p["host_ip"]
        for k in ("name", "app_protocol"):
            if p.get(k):
                out[k] = p[k]
        return [out]
    text = str(p)
    body, _, proto = text.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp"):
        raise ComposeError(f"{where}: invalid proto: {proto}")
    ip = ""
    if body.startswith("["):
        ip, sep, body = body[1:].partition("]:")
        if not sep:
            raise ComposeError(f'{where}: invalid port "{text}"')
    parts = body.split(":")
    if len(parts) == 3 and not ip:
        ip = parts.pop(0)
    if len(parts) > 2 or not parts[-1]:
        raise ComposeError(f'{where}: invalid port "{text}"')
    cont = parts[-1]
    host = parts[0] if len(parts) == 2 else None

    def rng(s: str) -> tuple[int, int]:
        a, _, b = s.partition("-")
        try:
            lo, hi = int(a), int(b or a)
        except ValueError:
            raise ComposeError(f'{where}: invalid port "{text}"') from None
        if not (0 < lo <= hi <= 65535):
            raise ComposeError(f'{where}: invalid port "{text}"')
        return lo, hi
    clo, chi = rng(cont)
    out = []
    if host:
        hlo, hhi = rng(host)
        if hhi - hlo == chi - clo and chi != clo:
            pairs = [(str(hlo + i), clo + i) for i in range(chi - clo + 1)]
        elif chi == clo:
            pairs = [(host if hlo != hhi else str(hlo), clo)]
        else:
            raise ComposeError(f'{where}: invalid port "{text}": the ranges differ in length')
    else:
        pairs = [(None, c) for c in range(clo, chi + 1)]
    for pub, target in pairs:
        d = {"mode": "ingress", "target": target, "protocol": proto}
        if pub is not None:
            d["published"] = pub
        if ip:
            d["host_ip"] = ip
        out.append(d)
    return out


def parse_volume(v, base: str, where: str) -> dict:
    """A volumes entry, short ("[src:]dst[:mode]") or long, as a long one with an absolute source."""
    if isinstance(v, dict):
        out = dict(v)
        t = out.get("type")
        if t not in ("bind", "volume", "tmpfs", "npipe", "cluster", "image"):
            raise ComposeError(f"{where}: invalid mount type {t!r}" if t else f"{where}: a mount's type is required")
        if not out.get("target"):
            raise ComposeError(f"{where}: a mount's target is required")
        if t == "bind":
            if not out.get("source"):
                raise ComposeError(f"{where}: a bind mount's source is required")
            out["source"] = _abs(out["source"], base)
            out.setdefault("bind", {"create_host_path": True})
        return out
    text = str(v)
    parts = text.split(":")
    mode = ""
    if len(parts) >= 3 or (len(parts) == 2 and not parts[1].startswith("/") and parts[1] and
                           all(o in ("ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent")
                               or o.endswith("private") or o.endswith("shared") or o.endswith("slave")
                               for o in parts[1].split(","))):
        mode = parts.pop()
    if len(parts) > 2:
        raise ComposeError(f'{where}: invalid spec: {text}: too many colons')
    if len(parts) == 1:
        target = parts[0]
        if not target.startswith("/"):
            raise ComposeError(f'{where}: invalid mount path "{target}": it must be absolute')
        out = {"type": "volume", "target": target, "volume": {}}
    else:
        src, target = parts
        if not target.startswith("/"):
            raise ComposeError(f'{where}: invalid mount path "{target}": it must be absolute')
        if src.startswith((".", "/", "~")):
            out = {"type": "bind", "source": _abs(src, base), "target": target, "bind": {"create_host_path": True}}
        else:
            out = {"type": "volume", "source": src, "target": target, "volume": {}}
    for o in mode.split(",") if mode else []:
        if o == "ro":
            out["read_only"] = True
        elif o == "nocopy" and out["type"] == "volume":
            out["volume"] = {"nocopy": True}
        elif o in ("z", "Z") and out["type"] == "bind":
            out["bind"]["selinux"] = o
        elif o.endswith(("private", "shared", "slave")) and out["type"] == "bind":
            out["bind"]["propagation"] = o
    return out


def _deps(v) -> dict:
    if isinstance(v, (Reset, Override)):
        return v
    if isinstance(v, list):
        return {str(n): {"condition": "service_started", "required": True} for n in v}
    out = {}
    for n, d in (v or {}).items():
        d = dict(d or {})
        out[str(n)] = {"condition": d.get("condition") or "service_started", "required": d.get("required", True),
                       **({"restart": d["restart"]} if "restart" in d else {})}
    return out


def _service_networks(v) -> dict:
    if isinstance(v, (Reset, Override)):
        return v
    if isinstance(v, list):
        return {str(n): None for n in v}
    return {str(n): (dict(x) if x else None) for n, x in (v or {}).items()}


def _env_files(v, base: str, lookup, where: str) -> dict:
    out: dict = {}
    for item in v if isinstance(v, list) else [v]:
        item = {"path": item} if isinstance(item, str) else item
        p = _abs(item["path"], base)
        out.update(_read_env_file(p, lookup, item.get("required", True)))
    return out


def normalize_service(name: str, svc: dict, base: str, lookup, where: str) -> dict:
    """SVC in its long forms: argv lists, environment and labels as mappings (env_file read
    in, bare keys resolved from the environment), ports, volumes, depends_on and networks
    long, paths absolute from BASE."""
    s = dict(svc)
    at = f"{where}: services.{name}"
    for key in ("command", "entrypoint"):
        if key in s:
            s[key] = _argv(s[key])
    if "healthcheck" in s and isinstance(s["healthcheck"], dict) and "test" in s["healthcheck"]:
        t = s["healthcheck"]["test"]
        s["healthcheck"] = dict(s["healthcheck"], test=["CMD-SHELL", t] if isinstance(t, str) else _argv(t))
    env = {}
    if s.get("env_file") is not None and not isinstance(s["env_file"], (Reset, Override)):
        env.update(_env_files(s.pop("env_file"), base, lookup, at))
    if "environment" in s:
        given = _mapping(s["environment"], "environment")
        if isinstance(given, dict):
            env.update(given)
        else:
            s["environment"] = given
    if env or isinstance(s.get("environment"), dict):
        for k, v in env.items():
            if v is None and lookup(k) is not None:
                env[k] = lookup(k)
        s["environment"] = env
    for key in ("labels", "annotations", "sysctls"):
        if key in s:
            s[key] = _mapping(s[key], key)
    if "extra_hosts" in s and not isinstance(s["extra_hosts"], (Reset, Override)):
        eh = s["extra_hosts"]
        s["extra_hosts"] = ([f"{h}:{ip}" for h, ips in eh.items() for ip in (ips if isinstance(ips, list) else [ips])]
                            if isinstance(eh, dict) else [str(x).replace("=", ":", 1) for x in eh])
    if "ports" in s and isinstance(s["ports"], list):
        s["ports"] = [x for i, p in enumerate(s["ports"]) for x in
                      ([p] if isinstance(p, (Reset, Override)) else parse_port(p, f"{at}.ports.{i}"))]
    if "expose" in s and isinstance(s["expose"], list):
        s["expose"] = [str(x) for x in s["expose"]]
    if "volumes" in s and isinstance(s["volumes"], list):
        s["volumes"] = [v if isinstance(v, (Reset, Override)) else parse_volume(v, base, f"{at}.volumes.{i}")
                        for i, v in enumerate(s["volumes"])]
    for key in ("dns", "dns_search", "tmpfs"):
        if isinstance(s.get(key), str):
            s[key] = [s[key]]
    if "depends_on" in s:
        s["depends_on"] = _deps(s["depends_on"])
    if "networks" in s:
        s["networks"] = _service_networks(s["networks"])
    b = s.get("build")
    if isinstance(b, str):
        s["build"] = {"context": _abs(b, base), "dockerfile": "Dockerfile"}
    elif isinstance(b, dict):
        b = dict(b)
        if not (b.get("context") or "").startswith(("http://", "https://", "git@")):
            b["context"] = _abs(b.get("context") or ".", base)
        b.setdefault("dockerfile", "Dockerfile")
        if "args" in b:
            b["args"] = _mapping(b["args"], "args")
        s["build"] = b
    if "scale" in s and s["scale"] is not None:
        s["scale"] = int(s["scale"])
    return s


# ------------------------------------------------------------------ merge
_APPEND = ("cap_add", "cap_drop", "dns", "dns_opt", "dns_search", "expose", "external_links", "group_add",
           "links", "profiles", "security_opt", "tmpfs", "volumes_from", "extra_hosts", "device_cgroup_rules",
           "devices", "configs", "secrets", "env_file", "label_file")
_MAPS = ("environment", "labels", "annotations", "sysctls", "ulimits", "depends_on", "networks", "storage_opt",
         "extends")
_REPLACE = ("command", "entrypoint")


def _merge_value(a, b):
    if isinstance(b, Override):
        return b.value
    if isinstance(a, dict) and isinstance(b, dict):
        out = dict(a)
        for k, v in b.items():
            if isinstance(v, Reset):
                out.pop(k, None)
            elif k in out:
                out[k] = _merge_value(out[k], v)
            else:
                out[k] = v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return a + [x for x in b if x not in a]
    return b


def merge_service(base: dict, over: dict) -> dict:
    """OVER on BASE (both normalised), as compose's merge rules say for each key."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Reset):
            out.pop(k, None)
            continue
        if isinstance(v, Override):
            out[k] = v.value
            continue
        if k not in out or out[k] is None or v is None:
            out[k] = v
        elif k in _REPLACE:
            out[k] = v
        elif k == "healthcheck" and isinstance(v, dict):
            out[k] = {**out[k], **v}
        elif k in _APPEND and isinstance(out[k], list) and isinstance(v, list):
            out[k] = out[k] + [x for x in v if x not in out[k]]
        elif k == "ports":
            out[k] = out[k] + [x for x in v if x not in out[k]]
        elif k == "volumes":
            targets = {x.get("target"): i for i, x in enumerate(out[k]) if isinstance(x, dict)}
            merged = list(out[k])
            for x in v:
                t = x.get("target") if isinstance(x, dict) else None
                if t in targets:
                    merged[targets[t]] = x
                else:
                    merged.append(x)
            out[k] = merged
        elif k == "logging" and isinstance(v, dict) and isinstance(out[k], dict):
            if v.get("driver") and out[k].get("driver") and v["driver"] != out[k]["driver"]:
                out[k] = v
            else:
                out[k] = _merge_value(out[k], v)
        elif k in _MAPS or isinstance(v, dict):
            out[k] = _merge_value(out[k], v)
        else:
            out[k] = v
    return out


def merge_documents(a: dict, b: dict) -> dict:
    """File B over file A (-f a -f b)."""
    out = dict(a)
    for k, v in b.items():
        if k == "services":
            svcs = dict(out.get("services") or {})
            for name, svc in (v or {}).items():
                if isinstance(svc, Reset):
                    svcs.pop(name, None)
                elif name in svcs:
                    svcs[name] = merge_service(svcs[name], svc)
                else:
                    svcs[name] = svc
            out["services"] = svcs
        elif k in ("networks", "volumes", "secrets", "configs") and isinstance(v, dict):
            out[k] = _merge_value(out.get(k) or {}, v)
        else:
            out[k] = v
    return out
