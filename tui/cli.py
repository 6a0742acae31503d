"""The command line: docker's grammar over dunnage.core.Engine.

The verbs live one module per verb or verb group in tui/commands/; this module builds the
parser from them and runs one command, with docker's exit codes. `dunnage` with no verb
opens the dashboard."""
from __future__ import annotations

import sys
from typing import Optional

from dunnage.core import Engine, EngineError
from dunnage.tui import commands
from dunnage.tui.commands.grammar import PROG, Parser, UsageError
from dunnage.tui.commands.output import err


def build_parser(verb: Optional[str] = None) -> Parser:
    """The command line's parser; with VERB, only that verb's (commands.VERBS)."""
    ap = Parser(prog=PROG, description="A container engine and terminal dashboard. Without a command: the dashboard.")
    ap.add_argument("--root", help="store directory (default /var/lib/dunnage, or $DUNNAGE_ROOT)")
    ap.add_argument("-v", "--version", action="store_true", help="print the version")
    ap.set_defaults(parser=ap)  # for the management commands' verbs (grammar.run_verb)
    sub = ap.add_subparsers(dest="verb", metavar="COMMAND", parser_class=Parser)
    commands.register_all(sub, verb)
    return ap


def verb_of(argv: list[str]) -> Optional[str]:
    """The verb ARGV names, if nothing before it asks for the whole parser (help)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--root":
            i += 2
            continue
        if not a.startswith("-"):
            return a
        if not a.startswith("--root="):
            return None  # -h, -v, or a mistake: the whole parser says what it has
        i += 1
    return None


def main(argv: Optional[list[str]] = None, ap: Optional[Parser] = None, serve_next: bool = False) -> int:
    """Run one command; AP is a parser from build_parser() to use (the fork server
    builds it once for every command it runs).  SERVE_NEXT: the command could have run
    in the root's fork server but none was up; start one for the commands that follow."""
    argv = sys.argv[1:] if argv is None else argv
    ap = build_parser(verb_of(argv)) if ap is None else ap
    made: list[Engine] = []
    try:
        return _run(ap, argv, made)
    finally:
        if serve_next and made:
            from dunnage.core.forkserver import start_for_next
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            except OSError:
                pass
            start_for_next(made[0].store)


def _run(ap: Parser, argv: list[str], made: list[Engine]) -> int:
    try:
        a = ap.parse_args(argv)
        if a.version:
            print("dunnage version 0.1.0")
            return 0
        e = Engine(a.root)
        made.append(e)
        fn = getattr(a, "fn", None)
        if fn is None:
            from dunnage.tui.commands.dashboard import cmd_dashboard as fn
        return fn(e, a)
    except UsageError as ex:
        print(f"{PROG}: {ex}", file=sys.stderr)
        return 125
    except EngineError as ex:
        err(str(ex))
        return ex.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry(serve_next: bool = False) -> None:
    from dunnage.core.forkserver import register_front
    register_front("dunnage.tui.cli:main", "dunnage.tui.cli:build_parser")  # for the fork servers we start
    sys.exit(main(serve_next=serve_next))


if __name__ == "__main__":
    entry()
