"""The import graph of dunnage, read from the source (AST: imports at module level and
inside functions alike, as issue 17 asks): the engine imports nothing of its fronts
(the command line and dashboard, dunnage.tui, and the Engine API, dunnage.api), and no
module imports itself through others.

An edge goes from a module to each module it imports: `from a.b import c` to a.b.c if
that is a module, else to a.b; `import a.b` to a.b.  Importing a.b also runs a's
__init__, but a's own modules importing each other through it is no cycle of theirs,
so the parent packages are no edges (as grimp and import-linter count them); nor are
imports under `if TYPE_CHECKING:`, which never run."""
from __future__ import annotations

import ast
from pathlib import Path


import dunnage.core

ROOT = Path(dunnage.core.__file__).resolve().parents[1]  # holding core/, fuse/, tui/ and api/
PACKAGES = tuple(sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"))
FRONTS = ("dunnage.tui", "dunnage.api")


def modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for p in (ROOT / pkg).rglob("*.py"):
            parts = ["dunnage", *p.relative_to(ROOT).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def _walk(node: ast.AST):
    """ast.walk, but not into the bodies of `if TYPE_CHECKING:`."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            todo.extend(n.orelse)
        else:
            todo.extend(ast.iter_child_nodes(n))


def imports_of(name: str, path: Path, known: dict) -> set[str]:
    """The dunnage modules NAME imports, anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    out = set()

    def add(target: str) -> None:
        while target and target not in known:  # an attribute of a module: the module
            target = target.rpartition(".")[0]
        if target and target != name:
            out.add(target)
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.startswith("dunnage."):
                    add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("dunnage"):
                continue
            for a in node.names:
                add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports_of(m, p, known) for m, p in known.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []

    def visit(v: str) -> None:
        work = [(v, iter(sorted(g[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        while work:
            u, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    break
                if w in on:
                    low[u] = min(low[u], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[u])
                if low[u] == index[u]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == u:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_the_graph_is_read_from_imports_at_any_depth():
    g = graph()
    assert "dunnage.core.shim.spawn" in g["dunnage.core.shim"]  # from .spawn import spawn
    assert "dunnage.core.forkserver.client" in g["dunnage.core.shim.spawn"]  # from ..forkserver.client import ...
    assert "dunnage.core.shim.supervisor" in g["dunnage.core.shim.spawn"]  # inside a function
    assert "dunnage.fuse.mount" in g["dunnage.core.shim.fuse_thread"]  # an absolute one, inside a function
    tree = ast.parse("if TYPE_CHECKING:\n    import dunnage.core.engine\nelse:\n    import dunnage.core.store\n")
    assert {a.name for n in _walk(tree) if isinstance(n, ast.Import) for a in n.names} == {"dunnage.core.store"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_engine_imports_nothing_of_its_fronts():
    """core/ and fuse/ never import a front, not even inside a function."""
    assert {"core", "fuse", "tui"} <= set(PACKAGES)
    bad = {m: sorted(t for t in deps if t in FRONTS or t.startswith(tuple(f + "." for f in FRONTS)))
           for m, deps in graph().items() if m.startswith(("dunnage.core", "dunnage.fuse"))}
    assert {m: t for m, t in bad.items() if t} == {}


def test_no_import_cycles():
    assert [c for c in cycles(graph()) if not all(m.startswith("dunnage.api") for m in c)] == []


def test_no_import_cycles_in_the_engine_api():
    assert [c for c in cycles(graph()) if c[0].startswith("dunnage.api")] == []


def test_the_command_lines_parser_loads_no_front_but_itself():
    """Every command without the fork server builds the parser: the verbs' modules must not pull
    in compose's YAML, the builder, the API service or the dashboard until a verb of theirs runs."""
    import subprocess
    import sys
    code = ("import sys, dunnage.tui.cli as c; c.build_parser(); "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in ('yaml', 'textual', 'rich') "
            "or m.startswith(('dunnage.compose', 'dunnage.builder', 'dunnage.api', 'dunnage.tui.app'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_a_verbs_parser_alone_is_the_one_the_whole_parser_has():
    """A command run in its own process builds only its verb's parser (commands.VERBS):
    every verb of the whole parser is there, with its module, and parses the same."""
    import importlib
    from dunnage.tui import commands
    from dunnage.tui.cli import build_parser, verb_of
    from dunnage.tui.commands.grammar import Parser
    found = {}
    for m in commands.MODULES:
        sub = Parser(prog="x").add_subparsers(dest="verb", parser_class=Parser)
        importlib.import_module(f"dunnage.tui.commands.{m}").register(sub)
        found.update((v, m) for v in sub.choices)
    assert found == commands.VERBS
    whole = build_parser()
    for argv in (["ps", "-a", "--format", "{{.ID}}"], ["--root", "/r", "container", "ls", "-q"],
                 ["--root=/r", "network", "create", "-o", "a=b", "n"], ["image", "ls"], ["version", "-f", "x"]):
        assert verb_of(argv) == next(a for a in argv if not a.startswith("-") and a != "/r")
        one = build_parser(verb_of(argv))
        assert vars(one.parse_args(argv)).keys() == vars(whole.parse_args(argv)).keys()
        assert {k: v for k, v in vars(one.parse_args(argv)).items() if k not in ("fn", "parser")} == \
            {k: v for k, v in vars(whole.parse_args(argv)).items() if k not in ("fn", "parser")}
    assert verb_of(["--help", "ps"]) is None and verb_of([]) is None and verb_of(["-v"]) is None
    for management in commands.MANAGEMENT:  # they run the other verbs through the parser: all of them
        assert build_parser(management)._subparsers._group_actions[0].choices.keys() == \
            whole._subparsers._group_actions[0].choices.keys()
