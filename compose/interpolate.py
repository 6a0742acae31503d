"""Variables in a compose file, as compose-go's template package reads them, and the
.env file that gives them values (compose-go's dotenv).

`${V}`, `$V`, `${V:-default}` (unset or empty), `${V-default}` (unset),
`${V:?message}`, `${V?message}` (an error), `${V:+replacement}`, `${V+replacement}`,
`$$` for a dollar; defaults and replacements may hold variables themselves.  Only
values are interpolated, never keys; an unset variable without a default is an empty
string and a warning, as compose says."""
from __future__ import annotations

import re
from typing import Callable, Optional

from dunnage.core.errors import InvalidParameter

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class InterpolationError(InvalidParameter):
    """A ${V:?err} whose variable is missing, or a ${ that does not close."""

    def __init__(self, message: str):
        super().__init__(message, 1)


def substitute(text: str, lookup: Callable[[str], Optional[str]], warn=None) -> str:
    """TEXT with its variables replaced by LOOKUP's values (None: unset)."""
    if "$" not in text:
        return text
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "{":
            end = _closing(text, i + 2)
            if end < 0:
                raise InterpolationError(f'invalid interpolation format for "{text}": a "${{" does not close')
            out.append(_braced(text[i + 2:end], text, lookup, warn))
            i = end + 1
        else:
            m = _NAME.match(text, i + 1)
            if not m:
                out.append("$")
                i += 1
                continue
            out.append(_value(m.group(0), lookup, warn))
            i = m.end()
    return "".join(out)


def _closing(text: str, start: int) -> int:
    """The index of the } that closes the ${ before START (nested ${...} counted)."""
    depth, i = 1, start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _value(name: str, lookup, warn) -> str:
    v = lookup(name)
    if v is None:
        if warn:
            warn(f'The "{name}" variable is not set. Defaulting to a blank string.')
        return ""
    return v


def _braced(body: str, whole: str, lookup, warn) -> str:
    m = _NAME.match(body)
    if not m:
        raise InterpolationError(f'invalid interpolation format for "{whole}": "${{{body}}}" is no variable')
    name, rest = m.group(0), body[m.end():]
    if not rest:
        return _value(name, lookup, warn)
    v = lookup(name)
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if rest.startswith(op):
            arg = rest[len(op):]
            break
    else:
        raise InterpolationError(f'invalid interpolation format for "{whole}": "${{{body}}}" is no variable')
    missing = v is None or (op.startswith(":") and v == "")
    if op in (":-", "-"):
        return substitute(arg, lookup, warn) if missing else v
    if op in (":+", "+"):
        return "" if missing else substitute(arg, lookup, warn)
    if missing:  # ":?" / "?"
        msg = substitute(arg, lookup, warn)
        raise InterpolationError(f'required variable {name} is missing a value' + (f": {msg}" if msg else ""))
    return v


def interpolate(node, lookup, warn=None, path: str = ""):
    """Every string value in NODE (a YAML tree), keys left as they are."""
    if isinstance(node, str):
        return substitute(node, lookup, warn)
    if isinstance(node, dict):
        return {k: interpolate(v, lookup, warn, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, lookup, warn, path) for v in node]
    return node


# ------------------------------------------------------------------ .env
def parse_dotenv(text: str, lookup=None, where: str = ".env") -> dict[str, str]:
    """KEY=VALUE lines, as compose-go's dotenv: `export ` before a key, # comments
    (after white space in an unquoted value), 'single' quotes literal, "double" quotes
    with \\n \\t \\" escapes and variables, unquoted values with variables and trimmed;
    a KEY alone takes this environment's value if it has one.  Variables see the
    file's earlier keys first, then LOOKUP."""
    out: dict[str, str] = {}

    def look(name: str) -> Optional[str]:
        if name in out:
            return out[name]
        return lookup(name) if lookup else None

    lines = text.splitlines()
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export ") or line.startswith("export\t"):
            line = line[7:].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not _KEY.fullmatch(key):
            raise InvalidParameter(f"failed to read {where}: line {i}: unexpected character in variable name "
                                   f"{key!r}", 1)
        if not sep:
            v = lookup(key) if lookup else None
            if v is not None:
                out[key] = v
            continue
        value = value.lstrip()
        if value[:1] in ("'", '"'):
            q = value[0]
            body = value[1:]
            while not _closed(body, q) and i < len(lines):
                body += "\n" + lines[i]
                i += 1
            end = _close_at(body, q)
            if end < 0:
                raise InvalidParameter(f"failed to read {where}: line {i}: unterminated quoted value", 1)
            inner = body[:end]
            if q == "'":
                out[key] = inner
            else:
                inner = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m.group(1), m.group(1)),
                               inner)
                out[key] = substitute(inner, look)
            continue
        hash_at = re.search(r"\s#", value)
        if hash_at:
            value = value[:hash_at.start()]
        out[key] = substitute(value.strip(), look)
    return out


def _close_at(body: str, q: str) -> int:
    i = 0
    while i < len(body):
        if body[i] == "\\" and q == '"':
            i += 2
            continue
        if body[i] == q:
            return i
        i += 1
    return -1


def _closed(body: str, q: str) -> bool:
    return _close_at(body, q) >= 0
