"""The shape of the engine's functions (issue 17): none in core/ or fuse/ takes more
than a dozen parameters.  A longer list is a request that wants to be one object (the
typed create request of core/spec.py, the runtime spec of core/runtime/spec.py, or a
small option object).  Every parameter counts, positional-only, keyword-only, self and
cls included; a `*args` or `**flags` catch-all counts as one, so the keyword-compatible
facade `Engine.create/run(image, cmd, **flags)` keeps its shape."""
from __future__ import annotations

import ast
from pathlib import Path

import dunnage.core

ROOT = Path(dunnage.core.__file__).resolve().parents[1]
LIMIT = 12


def parameter_count(args: ast.arguments) -> int:
    return (len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
            + (args.vararg is not None) + (args.kwarg is not None))


def offenders(source: str, where: str = "<source>") -> list[str]:
    """Each function (lambdas too) of SOURCE with more than LIMIT parameters, as WHERE:line name (count)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            n = parameter_count(node.args)
            if n > LIMIT:
                out.append(f"{where}:{node.lineno} {getattr(node, 'name', '<lambda>')} ({n})")
    return out


def test_counting():
    ok = "def f(a, b, c, d, e, f, g, h, i, j, k, l): pass\n"
    assert offenders(ok) == []
    assert offenders("def f(a, b, c, d, e, f, g, h, i, j, k, l, m): pass\n") == ["<source>:1 f (13)"]
    assert offenders("def f(a, /, b, *, c, d, e, f, g, h, i, j, k, l, m): pass\n") == ["<source>:1 f (13)"]
    assert offenders("class C:\n    async def m(self, a, b, c, d, e, f, g, h, i, j, *r, **kw): pass\n") \
        == ["<source>:2 m (13)"]
    assert offenders("def run(self, image, cmd=None, **flags): pass\n") == []
    assert offenders("g = lambda a, b, c, d, e, f, g, h, i, j, k, l, m: 0\n") == ["<source>:1 <lambda> (13)"]


def test_no_function_takes_more_than_a_dozen_parameters():
    files = sorted((ROOT / "core").rglob("*.py")) + sorted((ROOT / "fuse").rglob("*.py"))
    assert len(files) > 20
    found = [o for p in files for o in offenders(p.read_text(), str(p.relative_to(ROOT)))]
    assert found == [], "more than a dozen parameters:\n" + "\n".join(found)


def test_the_command_line_runs_one_main_per_command():
    """docker's management commands (`image ls`, `container rm`) run the same command
    functions as the verbs they name, without parsing and running a second command line:
    only the entry point calls main()."""
    tree = ast.parse((ROOT / "tui" / "cli.py").read_text())
    callers = sorted({f.name for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)
                      for n in ast.walk(f) if isinstance(n, ast.Call)
                      and isinstance(n.func, ast.Name) and n.func.id == "main"})
    assert callers == ["entry"]
