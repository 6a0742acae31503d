"""COPY/ADD --chmod in chmod(1)'s symbolic notation (`+x`, `u=rwX,go=rX`, `g=u`), as
BuildKit's copy applies it (dockerfile 1.14+, fsutil's copy through tonistiigi/dchapes-mode,
a port of BSD's setmode(3) with a umask of 0): the clauses parsed into commands once, then
run over each copied entry's own mode, `X` looking at the entry's mode before any of them."""
from __future__ import annotations

from typing import Callable

_UID, _GID, _TXT = 0o4000, 0o2000, 0o1000
_STANDARD = _UID | _GID | 0o777
_ALL = 0xFFFF  # ^umask, the umask being 0
_U, _G, _O, _SET, _CLEAR = 1, 2, 4, 8, 16


def parse(text: str) -> Callable[[int, bool], int]:
    """TEXT's commands as a function of (an entry's mode, whether it is a directory) to its new
    mode; ValueError where TEXT is not symbolic notation."""
    cmds: list[tuple[str, int, int]] = []

    def add(op: str, who: int, arg) -> None:
        if op == "=":
            cmds.append(("-", who or _STANDARD, 0))
            op = "+"
        if op in "+-X":
            cmds.append((op, (who & arg) if who else (_ALL & arg), 0))
            return
        flags = (_U if who & 0o400 else 0) | (_G if who & 0o040 else 0) | (_O if who & 0o004 else 0) \
            if who else _U | _G | _O
        flags |= {"+": _SET, "-": _CLEAR, "=": _SET | _CLEAR}[arg]
        cmds.append((op, _ALL, flags))

    s, i, equal_done = text, 0, False
    if not s:
        raise ValueError("invalid syntax")
    while True:
        who = 0
        while i < len(s) and s[i] in "augo":
            who |= {"a": _STANDARD, "u": _UID | 0o700, "g": _GID | 0o070, "o": 0o007}[s[i]]
            i += 1
        if i >= len(s):
            raise ValueError("invalid syntax")
        while True:  # one or more OP PERMS after a WHO
            if i >= len(s) or s[i] not in "+-=":
                raise ValueError("invalid syntax")
            op = s[i]
            i += 1
            if op == "=":
                equal_done = False
            who &= ~_TXT
            perm = perm_x = 0
            while True:
                b = s[i] if i < len(s) else ""
                if b == "r":
                    perm |= 0o444
                elif b == "s":
                    if who == 0 or who & ~0o007:
                        perm |= _UID | _GID
                elif b == "t":
                    if who == 0 or who & ~0o007:
                        who |= _TXT
                        perm |= _TXT
                elif b == "w":
                    perm |= 0o222
                elif b == "X":
                    if op == "+":
                        perm_x = 0o111
                elif b == "x":
                    perm |= 0o111
                elif b and b in "ugo":
                    if perm:
                        add(op, who, perm)
                        perm = 0
                    if op == "=":
                        equal_done = True
                    if perm_x:
                        add("X", who, perm_x)
                        perm_x = 0
                    add(b, who, op)
                else:
                    if perm or (op == "=" and not equal_done):
                        if op == "=":
                            equal_done = True
                        add(op, who, perm)
                    if perm_x:
                        add("X", who, perm_x)
                    break
                i += 1
            if i >= len(s):
                return lambda mode, is_dir: _apply(cmds, mode, is_dir)
            if s[i] == ",":
                i += 1
                break


def _apply(cmds: list[tuple[str, int, int]], mode: int, is_dir: bool) -> int:
    old = mode & 0o7777
    new = old
    for op, bits, flags in cmds:
        if op in "ugo":
            value = {"u": (new & 0o700) >> 6, "g": (new & 0o070) >> 3, "o": new & 0o007}[op]
            if flags & _CLEAR:
                clear = 0o007 if flags & _SET else value
                for f, shift in ((_U, 6), (_G, 3), (_O, 0)):
                    if flags & f:
                        new &= ~((clear << shift) & bits)
            if flags & _SET:
                for f, shift in ((_U, 6), (_G, 3), (_O, 0)):
                    if flags & f:
                        new |= (value << shift) & bits
        elif op == "+":
            new |= bits
        elif op == "-":
            new &= ~bits
        elif op == "X" and (old & 0o111 or is_dir):
            new |= bits
    return new & 0o7777
