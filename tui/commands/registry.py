"""Login and logout: credentials for registries."""
from __future__ import annotations

import sys

from dunnage.core import Engine
from dunnage.core.errors import InvalidParameter
from dunnage.tui.commands.grammar import tls


def cmd_login(e: Engine, a) -> int:
    user = a.username
    pw = a.password
    if a.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    if not user or pw is None:
        raise InvalidParameter("login needs --username and --password (or --password-stdin)")
    e.login(a.registry, user, pw, tls(a))
    print("Login Succeeded")
    return 0


def cmd_logout(e: Engine, a) -> int:
    if e.logout(a.registry):
        print(f"Removing login credentials for {a.registry}")
    else:
        print(f"Not logged in to {a.registry}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("login", help="keep credentials for a registry")
    p.add_argument("-u", "--username")
    p.add_argument("-p", "--password")
    p.add_argument("--password-stdin", action="store_true")
    p.add_argument("--tls-verify")
    p.add_argument("registry")
    p.set_defaults(fn=cmd_login)

    p = sub.add_parser("logout", help="forget a registry's credentials")
    p.add_argument("registry")
    p.set_defaults(fn=cmd_logout)
