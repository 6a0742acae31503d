"""The command line's grammar: docker's flag conventions over argparse, shared by every verb module."""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Optional

from dunnage.core.errors import InvalidParameter
from dunnage.core.units import parse_since  # noqa: F401 (the verbs' name for it)

if TYPE_CHECKING:
    from dunnage.core import Engine

# argparse passes every help and error text through gettext, which looks for a
# translation catalogue on disk each time: 150 lookups and 11 ms of every
# command for texts that are English anyway
argparse._ = str
argparse.ngettext = lambda singular, plural, n: singular if n == 1 else plural

PROG = "dunnage"


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # docker's flags are whole words (pflag): a prefix of one is no flag (--no-tr, --forma),
        # and is refused, not taken as whichever flag it begins
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # docker: flag errors exit 125
        raise UsageError(f"{message} (see '{self.prog} --help')")


_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def go_bool(p: argparse.ArgumentParser, *flags: str, default: bool, help: str) -> None:
    """A boolean flag as Go's flag package has them: bare it is true, and FLAG=false (any of
    strconv.ParseBool's words) turns it off. argparse looks an argument up whole before it
    splits it at '=', so each spelling with its value is an option of its own."""
    dest = flags[-1].lstrip("-").replace("-", "_")
    p.add_argument(*flags, dest=dest, action="store_true", default=default, help=help)
    p.add_argument(*[f"{f}={v}" for f in flags for v in _GO_TRUE], dest=dest, action="store_true",
                   help=argparse.SUPPRESS)
    p.add_argument(*[f"{f}={v}" for f in flags for v in _GO_FALSE], dest=dest, action="store_false",
                   help=argparse.SUPPRESS)


class _Refused(argparse.Action):
    def __init__(self, option_strings, dest, why: str, **kwargs):
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.why = why

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string}: {self.why}")


def true_only(p: argparse.ArgumentParser, flag: str, why: str, help: str) -> None:
    """A boolean flag of docker's whose true is what dunnage always does (FLAG, FLAG=true: taken,
    nothing to do); FLAG=false asks for what it never does: refused in one line (WHY), not ignored."""
    dest = flag.lstrip("-").replace("-", "_")
    p.add_argument(flag, *[f"{flag}={v}" for v in _GO_TRUE], dest=dest, action="store_true", help=help)
    p.add_argument(*[f"{flag}={v}" for v in _GO_FALSE], dest=dest, action=_Refused, why=why, help=argparse.SUPPRESS)


CONTENT_TRUST = "content trust is not supported: images are not verified by signatures (docker's default)"


def tls(a) -> Optional[bool]:
    if a.tls_verify is None:
        return None
    return a.tls_verify.lower() not in ("false", "0", "no")


def run_verb(e: Engine, a, argv: list[str]) -> int:
    """Run ARGV, a top-level verb and its arguments, on E: docker's management commands
    (`image ls`, `container ls`, `container rm`) are the same command functions, reached
    through the same parser (A's) and engine, not through a second main()."""
    b = a.parser.parse_args(argv)
    b.root = a.root
    return b.fn(e, b)


def filters_of(values: list[str]) -> dict[str, list[str]]:
    """docker's --filter KEY=VALUE flags as a filters map."""
    out: dict[str, list[str]] = {}
    for v in values or ():
        k, eq, val = v.partition("=")
        if not eq:
            raise InvalidParameter("bad format of filter (expected name=value)", 125)
        out.setdefault(k.strip().lower(), []).append(val)
    return out
