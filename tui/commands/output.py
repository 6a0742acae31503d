"""The command line's output: docker's tables, --format templates, error lines, prune reports."""
from __future__ import annotations

import json
import os
import sys
from typing import Optional

from dunnage.core import EngineError
from dunnage.core.errors import InvalidParameter
from dunnage.tui import gotemplate
from dunnage.tui.commands.grammar import PROG


def render(fmt: Optional[str], rows: list[dict], table: list[tuple[str, str]], quiet_key: Optional[str] = None,
           quiet: bool = False) -> None:
    """Print ROWS as docker's formatter does: the default table (TABLE: its header and
    field per column), or --format: `table [TEMPLATE]`, `json`, or a Go template run
    on each row (tui/gotemplate.py). Rows of a listing (TABLE given) are docker's
    typed contexts: a field they do not have is an error; other objects (inspect,
    info) are JSON maps, where it is <no value>. A template that does not parse or
    run is one error line, exit 125, with nothing printed."""
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    if quiet and quiet_key and fmt in (None, "", "table"):  # (a template of one's own wins over -q, as docker's)
        for r in public:
            print(r[quiet_key])
        return
    if not fmt:
        lines = ["\t".join(h for h, _ in table)]
        lines += ["\t".join(gotemplate.go_sprint(r.get(k, "")) for _, k in table) for r in public]
        sys.stdout.write(gotemplate.tabwrite("\n".join(lines) + "\n"))
        return
    if table:
        public = [row_struct(r, p) for r, p in zip(rows, public)]
    try:
        text = gotemplate.format_rows(fmt, public, table)
    except gotemplate.TemplateError as ex:
        raise InvalidParameter(f"template parsing error: {ex}", 125) from None
    sys.stdout.write(text)


def row_struct(row: dict, public: dict) -> gotemplate.Struct:
    """A listing's row as docker's context: its fields, and Label NAME when it has labels."""
    out = gotemplate.Struct(public, "row")
    labels = row.get("_labels")
    if labels is not None:
        out["Label"] = lambda name: labels.get(name, "")
    return out


def err(msg: str) -> None:
    one_line = "; ".join(part.strip() for part in str(msg).splitlines() if part.strip())
    print(f"{PROG}: Error: {one_line}", file=sys.stderr)


def each(a, refs: list[str], fn) -> int:
    rc = 0
    for ref in refs:
        try:
            fn(ref)
            print(ref)
        except EngineError as ex:
            err(str(ex))
            rc = 1
    return rc


def inspect_each(fmt, names: list[str], inspect) -> int:
    """inspect for networks and volumes: JSON (or --format) of each; a missing one is an error line."""
    rc, out = 0, []
    for n in names:
        try:
            out.append(inspect(n))
        except EngineError as ex:
            err(str(ex))
            rc = 1
    if fmt:
        render(fmt, out, [])
    else:
        print(json.dumps(out, indent=4))
    return rc


def print_pruned(title: str, names: list[str]) -> int:
    """A prune's section as docker prints it: the title, a line each, a blank line."""
    if names:
        print(title)
        for n in names:
            print(n)
        print()
    return 0


def prune_line(line: str) -> str:
    """rmi's "Untagged: x" / "Deleted: id" as image prune words them."""
    word, _, rest = line.partition(": ")
    return f"{word.lower()}: {rest}"


def confirm(message: str) -> bool:
    """docker's prompt: MESSAGE [y/N], and only y (or Y) goes on: docker 20.10's CLI takes
    yes for a no."""
    sys.stdout.write(f"{message} [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() == "y"


def archive_output(a) -> dict:
    """Where save and export write: -o FILE, or standard output unless it is a terminal."""
    if a.output is None and os.isatty(1):
        raise InvalidParameter("cowardly refusing to save to a terminal (use -o FILE or redirect)")
    return {"path": a.output, "stream": None if a.output else sys.stdout.buffer}
