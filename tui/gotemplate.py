"""Go's text/template with docker's functions: the language of --format.

docker's --format is Go's text/template (pipelines, variables, if/range/with, the
builtins) with the functions of docker/cli's templates package, and a `table`
prefix that prints a header row and aligns the columns with Go's tabwriter.
Scripts written for docker are only portable if the same template prints the same
text here, and anything this module does not understand is an error (one line,
worded as Go words it), never literal text.

Values are Python's JSON-like ones: dicts act as Go's map[string]interface{}
(a missing key gives <no value>), lists as []interface{}, None as nil; a Struct is
a dict whose missing fields are errors (docker's typed contexts) and whose
callables are methods; one whose type_name starts "struct " is a plain Go struct
value (printed {v v}, its JSON in field order).  Pure logic: no engine imports."""
from __future__ import annotations

import functools
import math
import re
import urllib.parse
from bisect import bisect_right
from decimal import Decimal
from typing import Any, Optional

__all__ = ["TemplateError", "Template", "Struct", "StrMap", "parse", "go_json", "go_sprint", "go_sprintf",
           "tabwrite", "format_rows"]


class TemplateError(Exception):
    """A template that cannot be parsed or executed; the message is Go's, one line.
    PARTIAL is what execution had written before the error."""

    def __init__(self, msg: str, partial: str = ""):
        super().__init__(msg)
        self.partial = partial


class _Missing:
    """Go's invalid reflect.Value: what a missing map key gives; prints <no value>."""
    __slots__ = ()

    def __repr__(self):
        return "<no value>"


MISSING = _Missing()
_NOFINAL = object()  # no value piped into a command
_ERROR = object()


class Struct(dict):
    """A dict that acts as a Go struct: fields that are not there are an error
    (docker's formatter contexts), callables are methods called with their
    arguments (`{{.Label "k"}}`). MISSING gives another value instead of an error
    (e.g. "" for map[string]string)."""

    def __init__(self, data=(), type_name: str = "struct", missing: Any = _ERROR):
        super().__init__(data)
        self.type_name = type_name
        self.missing = missing


class StrMap(dict):
    """A dict that acts as Go's map[string]string (docker's event Attributes, Labels in
    its typed contexts): `index` of a missing key gives "" (the element type's zero
    value) where a map[string]interface{} gives nil; `.key` still gives <no value>."""


# ---------------------------------------------------------------- lexer
(T_ERROR, T_BOOL, T_CHAR, T_CHARCONST, T_COMPLEX, T_ASSIGN, T_DECLARE, T_EOF, T_FIELD, T_IDENT, T_LEFT,
 T_LPAREN, T_NUMBER, T_PIPE, T_RAWSTRING, T_RIGHT, T_RPAREN, T_SPACE, T_STRING, T_TEXT, T_VARIABLE,
 T_KEYWORD, T_BLOCK, T_BREAK, T_CONTINUE, T_DOT, T_DEFINE, T_ELSE, T_END, T_IF, T_NIL, T_RANGE,
 T_TEMPLATE, T_WITH) = range(34)

_KEYWORDS = {".": T_DOT, "block": T_BLOCK, "break": T_BREAK, "continue": T_CONTINUE, "define": T_DEFINE,
             "else": T_ELSE, "end": T_END, "if": T_IF, "range": T_RANGE, "nil": T_NIL,
             "template": T_TEMPLATE, "with": T_WITH}
_SPACE = " \t\r\n"


def _is_alnum(c: str) -> bool:
    return c == "_" or c.isalpha() or c.isdigit()


class _Item:
    __slots__ = ("typ", "pos", "val", "line")

    def __init__(self, typ, pos, val, line):
        self.typ, self.pos, self.val, self.line = typ, pos, val, line

    def __str__(self):
        if self.typ == T_EOF:
            return "EOF"
        if self.typ == T_ERROR:
            return self.val
        if self.typ > T_KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return _go_quote(self.val[:10]) + "..."
        return _go_quote(self.val)


def _lex(text: str) -> list[_Item]:
    """The items of TEXT, as Go's lexer makes them; an error item ends the list."""
    items: list[_Item] = []
    n = len(text)
    newlines = [i for i, c in enumerate(text) if c == "\n"]

    def line_at(pos: int) -> int:
        return 1 + bisect_right(newlines, pos - 1)

    def emit(typ, start, end):
        items.append(_Item(typ, start, text[start:end], line_at(start)))

    def error(msg, start):
        items.append(_Item(T_ERROR, start, msg, line_at(start)))
        return items

    def right_delim_at(p):
        """(at a right delimiter, with a trim marker before it)"""
        if text.startswith("}}", p):
            return True, False
        if p + 1 < n and text[p] in _SPACE and text[p + 1] == "-" and text.startswith("}}", p + 2):
            return True, True
        return False, False

    def at_terminator(p):
        if p >= n:
            return True
        c = text[p]
        return c in _SPACE or c in ".,|:)(" or c == "}"

    pos = 0
    while True:
        # text up to the next action
        x = text.find("{{", pos)
        if x < 0:
            if pos < n:
                emit(T_TEXT, pos, n)
            items.append(_Item(T_EOF, n, "", line_at(n)))
            return items
        trim_left = x + 3 <= n and text[x + 2:x + 3] == "-" and x + 3 < n and text[x + 3] in _SPACE
        end = x
        if trim_left:
            while end > pos and text[end - 1] in _SPACE:
                end -= 1
        if end > pos:
            emit(T_TEXT, pos, end)
        p = x + 2
        after = 2 if trim_left else 0
        if text.startswith("/*", p + after):
            # a comment
            start = p + after
            close = text.find("*/", start + 2)
            if close < 0:
                return error("unclosed comment", start)
            p = close + 2
            delim, trim = right_delim_at(p)
            if not delim:
                return error("comment ends before closing delimiter", start)
            p += 4 if trim else 2
            if trim:
                while p < n and text[p] in _SPACE:
                    p += 1
            pos = p
            continue
        emit(T_LEFT, x, x + 2)
        p += after
        depth = 0
        # inside the action
        while True:
            delim, trim = right_delim_at(p)
            if delim:
                if depth:
                    return error("unclosed left paren", p)
                if trim:
                    p += 2
                emit(T_RIGHT, p, p + 2)
                p += 2
                if trim:
                    while p < n and text[p] in _SPACE:
                        p += 1
                pos = p
                break
            if p >= n:
                return error("unclosed action", p)
            c = text[p]
            start = p
            if c in _SPACE:
                while p < n and text[p] in _SPACE:
                    p += 1
                # " -}}": the space belongs to the trim marker
                if text.startswith("-}}", p) and p - 1 >= start:
                    if p - 1 > start:
                        emit(T_SPACE, start, p - 1)
                    p -= 1
                    continue
                emit(T_SPACE, start, p)
            elif c == "=":
                p += 1
                emit(T_ASSIGN, start, p)
            elif c == ":":
                if text[p + 1:p + 2] != "=":
                    return error("expected :=", start)
                p += 2
                emit(T_DECLARE, start, p)
            elif c == "|":
                p += 1
                emit(T_PIPE, start, p)
            elif c == '"':
                p = _scan_quoted(text, p, '"')
                if p < 0:
                    return error("unterminated quoted string", start)
                emit(T_STRING, start, p)
            elif c == "`":
                close = text.find("`", p + 1)
                if close < 0:
                    return error("unterminated raw quoted string", start)
                p = close + 1
                emit(T_RAWSTRING, start, p)
            elif c == "'":
                p = _scan_quoted(text, p, "'")
                if p < 0:
                    return error("unterminated character constant", start)
                emit(T_CHARCONST, start, p)
            elif c in "$.":
                if c == "." and p + 1 < n and text[p + 1].isdigit() and text[p + 1] in "0123456789":
                    p, ok = _scan_number(text, p)
                    if not ok:
                        return error(f"bad number syntax: {_go_quote(text[start:p])}", start)
                    emit(T_NUMBER, start, p)
                    continue
                p += 1
                if at_terminator(p):
                    emit(T_VARIABLE if c == "$" else T_DOT, start, p)
                    continue
                while p < n and _is_alnum(text[p]):
                    p += 1
                if not at_terminator(p):
                    return error(f"bad character {_go_rune(text[p])}", start)
                emit(T_VARIABLE if c == "$" else T_FIELD, start, p)
            elif c in "+-" or c.isdigit() and c in "0123456789":
                p, ok = _scan_number(text, p)
                if not ok:
                    return error(f"bad number syntax: {_go_quote(text[start:p])}", start)
                if p < n and text[p] in "+-":
                    p, ok = _scan_number(text, p)
                    if not ok or text[p - 1] != "i":
                        return error(f"bad number syntax: {_go_quote(text[start:p])}", start)
                    emit(T_COMPLEX, start, p)
                else:
                    emit(T_NUMBER, start, p)
            elif _is_alnum(c):
                while p < n and _is_alnum(text[p]):
                    p += 1
                if not at_terminator(p):
                    return error(f"bad character {_go_rune(text[p])}", start)
                word = text[start:p]
                if word in _KEYWORDS:
                    emit(_KEYWORDS[word], start, p)
                elif word in ("true", "false"):
                    emit(T_BOOL, start, p)
                else:
                    emit(T_IDENT, start, p)
            elif c == "(":
                p += 1
                depth += 1
                emit(T_LPAREN, start, p)
            elif c == ")":
                depth -= 1
                if depth < 0:
                    return error("unexpected right paren", start)
                p += 1
                emit(T_RPAREN, start, p)
            elif ord(c) < 0x80 and c.isprintable():
                p += 1
                emit(T_CHAR, start, p)
            else:
                return error(f"unrecognized character in action: {_go_rune(c)}", start)


def _scan_quoted(text: str, p: int, quote: str) -> int:
    """The end of the QUOTE-delimited literal starting at P (backslash escapes, on one
    line), or -1 when it is not closed."""
    n = len(text)
    p += 1
    while True:
        if p >= n or text[p] == "\n":
            return -1
        if text[p] == "\\":
            if p + 1 >= n or text[p + 1] == "\n":
                return -1
            p += 2
            continue
        p += 1
        if text[p - 1] == quote:
            return p


def _scan_number(text: str, p: int) -> tuple[int, bool]:
    n = len(text)

    def accept(valid):
        nonlocal p
        if p < n and text[p] in valid:
            p += 1
            return True
        return False

    def run(valid):
        nonlocal p
        while p < n and text[p] in valid:
            p += 1

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    accept("i")
    if p < n and _is_alnum(text[p]):
        return p + 1, False
    return p, True


def _go_rune(c: str) -> str:
    """Go's %#U of a rune: U+0021 '!'."""
    return f"U+{ord(c):04X} '{c}'" if c.isprintable() else f"U+{ord(c):04X}"


# ---------------------------------------------------------------- nodes
class _Node:
    __slots__ = ("pos",)


class _List(_Node):
    __slots__ = ("nodes",)

    def __init__(self, pos):
        self.pos, self.nodes = pos, []

    def __str__(self):
        return "".join(str(x) for x in self.nodes)


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos, text):
        self.pos, self.text = pos, text

    def __str__(self):
        return _go_quote(self.text)


class _Pipe(_Node):
    __slots__ = ("decl", "cmds", "is_assign")

    def __init__(self, pos):
        self.pos, self.decl, self.cmds, self.is_assign = pos, [], [], False

    def __str__(self):
        s = ""
        if self.decl:
            s = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return s + " | ".join(str(c) for c in self.cmds)


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos, pipe):
        self.pos, self.pipe = pos, pipe

    def __str__(self):
        return "{{" + str(self.pipe) + "}}"


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos):
        self.pos, self.args = pos, []

    def __str__(self):
        return " ".join(f"({a})" if isinstance(a, _Pipe) else str(a) for a in self.args)


class _Field(_Node):
    __slots__ = ("ident",)

    def __init__(self, pos, ident):
        self.pos, self.ident = pos, ident

    def __str__(self):
        return "".join("." + x for x in self.ident)


class _Variable(_Node):
    __slots__ = ("ident",)

    def __init__(self, pos, ident):
        self.pos, self.ident = pos, ident

    def __str__(self):
        return ".".join(self.ident)


class _Chain(_Node):
    __slots__ = ("node", "fields")

    def __init__(self, pos, node):
        self.pos, self.node, self.fields = pos, node, []

    def __str__(self):
        s = f"({self.node})" if isinstance(self.node, _Pipe) else str(self.node)
        return s + "".join("." + f for f in self.fields)


class _Identifier(_Node):
    __slots__ = ("name",)

    def __init__(self, pos, name):
        self.pos, self.name = pos, name

    def __str__(self):
        return self.name


class _Dot(_Node):
    __slots__ = ()

    def __init__(self, pos):
        self.pos = pos

    def __str__(self):
        return "."


class _Nil(_Node):
    __slots__ = ()

    def __init__(self, pos):
        self.pos = pos

    def __str__(self):
        return "nil"


class _Bool(_Node):
    __slots__ = ("value",)

    def __init__(self, pos, value):
        self.pos, self.value = pos, value

    def __str__(self):
        return "true" if self.value else "false"


class _Number(_Node):
    __slots__ = ("text", "is_int", "is_float", "is_complex", "int_val", "float_val")

    def __init__(self, pos, text, value, is_complex=False):
        self.pos, self.text, self.is_complex = pos, text, is_complex
        self.is_int = isinstance(value, int) or isinstance(value, float) and value.is_integer() \
            and abs(value) < 2 ** 63
        self.is_float = not is_complex
        self.int_val = int(value) if self.is_int else 0
        self.float_val = float(value) if not is_complex else 0.0

    def __str__(self):
        return self.text


class _String(_Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos, quoted, text):
        self.pos, self.quoted, self.text = pos, quoted, text

    def __str__(self):
        return self.quoted


class _Control(_Node):
    __slots__ = ("pipe", "list", "else_list")
    word = ""

    def __init__(self, pos, pipe, lst, else_list):
        self.pos, self.pipe, self.list, self.else_list = pos, pipe, lst, else_list

    def __str__(self):
        s = "{{" + self.word + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            s += "{{else}}" + str(self.else_list)
        return s + "{{end}}"


class _If(_Control):
    __slots__ = ()
    word = "if"


class _Range(_Control):
    __slots__ = ()
    word = "range"


class _With(_Control):
    __slots__ = ()
    word = "with"


class _Word(_Node):
    """An action of one keyword: {{break}}, {{continue}}, {{end}}, {{else}}."""
    __slots__ = ()
    word = ""

    def __init__(self, pos):
        self.pos = pos

    def __str__(self):
        return "{{" + self.word + "}}"


class _BreakNode(_Word):
    __slots__ = ()
    word = "break"


class _ContinueNode(_Word):
    __slots__ = ()
    word = "continue"


class _TemplateCall(_Node):
    __slots__ = ("name", "pipe")

    def __init__(self, pos, name, pipe):
        self.pos, self.name, self.pipe = pos, name, pipe

    def __str__(self):
        return "{{template " + _go_quote(self.name) + (" " + str(self.pipe) if self.pipe else "") + "}}"


class _End(_Word):
    __slots__ = ()
    word = "end"


class _Else(_Word):
    __slots__ = ()
    word = "else"


# ---------------------------------------------------------------- parser
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\"}


def _unquote(s: str) -> str:
    """Go's strconv.Unquote of a "..." or `...` literal."""
    if s[0] == "`":
        if "`" in s[1:-1]:
            raise ValueError("invalid syntax")
        return s[1:-1].replace("\r", "")
    return _unescape(s[1:-1], '"')


def _unescape(body: str, quote: str) -> str:
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c == quote or c == "\n":
            raise ValueError("invalid syntax")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise ValueError("invalid syntax")
        e = body[i + 1]
        i += 2
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
        elif e == quote:
            out.append(e)
        elif e in "xuU":
            k = {"x": 2, "u": 4, "U": 8}[e]
            h = body[i:i + k]
            if len(h) != k or not all(x in "0123456789abcdefABCDEF" for x in h):
                raise ValueError("invalid syntax")
            v = int(h, 16)
            i += k
            if e == "x":
                out.append(bytes([v]).decode("latin-1") if v < 0x80 else chr(v))
            else:
                if v > 0x10FFFF or 0xD800 <= v < 0xE000:
                    raise ValueError("invalid syntax")
                out.append(chr(v))
        elif e in "01234567":
            h = body[i - 1:i + 2]
            if len(h) != 3 or not all(x in "01234567" for x in h) or int(h, 8) > 255:
                raise ValueError("invalid syntax")
            out.append(chr(int(h, 8)))
            i += 2
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


def _parse_number(text: str, typ: int):
    """The value of a number or character literal, as Go's parse.newNumber reads it."""
    if typ == T_CHARCONST:
        body = _unescape(text[1:-1], "'")
        if len(body) != 1:
            raise ValueError(f"malformed character constant: {text}")
        return ord(body)
    if typ == T_COMPLEX or text.endswith("i"):
        raise ValueError(f"complex constants are not supported: {text}")
    t = text
    sign = 1
    if t[:1] in "+-":
        sign = -1 if t[0] == "-" else 1
        t = t[1:]
    if "__" in t or t.startswith("_") or t.endswith("_"):
        raise ValueError(f"illegal number syntax: {_go_quote(text)}")
    low = t.lower()
    try:
        if low.startswith(("0x", "0o", "0b")):
            if low.startswith("0x") and ("." in low or "p" in low):
                return sign * float.fromhex(t.replace("_", ""))
            v = sign * int(t, 0)
            if not -2 ** 63 <= v < 2 ** 64:
                raise OverflowError
            return v
        if re.fullmatch(r"[0-9_]+", t):
            v = sign * int(t.replace("_", ""), 8 if len(t) > 1 and t[0] == "0" else 10)
            if not -2 ** 63 <= v < 2 ** 64:
                raise OverflowError
            return v
        v = float(t.replace("_", ""))
        if math.isinf(v):
            raise ValueError
        return sign * v
    except OverflowError:
        raise ValueError(f"integer overflow: {_go_quote(text)}") from None
    except ValueError:
        raise ValueError(f"illegal number syntax: {_go_quote(text)}") from None


class _Parser:
    def __init__(self, text: str, funcs: set[str]):
        self.text = text
        self.items = _lex(text)
        self.i = 0
        self.funcs = funcs
        self.vars = ["$"]
        self.range_depth = 0
        self.action_line = 0
        self.last = self.items[0]
        self.defs: dict[str, _List] = {}

    # tokens
    def next(self) -> _Item:
        it = self.items[min(self.i, len(self.items) - 1)]  # the last item (EOF or an error) repeats
        self.i += 1
        self.last = it
        return it

    def backup(self, k: int = 1) -> None:
        self.i -= k

    def peek(self) -> _Item:
        return self.items[min(self.i, len(self.items) - 1)]

    def next_non_space(self) -> _Item:
        while True:
            it = self.next()
            if it.typ != T_SPACE:
                return it

    def peek_non_space(self) -> _Item:
        """The next item that is not a space; the spaces before it are consumed (as Go's)."""
        while self.peek().typ == T_SPACE:
            self.i += 1
        return self.peek()

    def errorf(self, msg: str):
        raise TemplateError(f"template: :{self.last.line}: {msg}")

    def unexpected(self, it: _Item, context: str):
        self.last = it
        if it.typ == T_ERROR:
            extra = ""
            if self.action_line and self.action_line != it.line:
                extra = f" in action started at :{self.action_line}"
                if it.val.endswith(" action"):
                    extra = extra[len(" in action"):]
            self.errorf(f"{it}{extra}")
        self.errorf(f"unexpected {it} in {context}")

    def expect(self, typ: int, context: str) -> _Item:
        it = self.next_non_space()
        if it.typ != typ:
            self.unexpected(it, context)
        return it

    # grammar
    def parse(self) -> _List:
        root = _List(self.peek().pos)
        while self.peek().typ != T_EOF:
            if self.peek().typ == T_LEFT:
                mark = self.i
                self.next()
                if self.next_non_space().typ == T_DEFINE:
                    self.definition()
                    continue
                self.i = mark
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                self.errorf(f"unexpected {n}")
            root.nodes.append(n)
        return root

    def definition(self) -> None:
        context = "define clause"
        it = self.next_non_space()
        if it.typ not in (T_STRING, T_RAWSTRING):
            self.unexpected(it, context)
        name = self.unquote(it)
        self.expect(T_RIGHT, context)
        saved, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, _End):
            self.errorf(f"unexpected {end} in {context}")
        self.add_definition(name, body)

    def add_definition(self, name: str, body: _List) -> None:
        old = self.defs.get(name)
        if old is not None and not _is_empty(old) and not _is_empty(body):
            self.errorf(f"template: multiple definition of template {_go_quote(name)}")
        if old is None or _is_empty(old):
            self.defs[name] = body

    def item_list(self):
        lst = _List(self.peek_non_space().pos)
        while self.peek_non_space().typ != T_EOF:
            n = self.text_or_action()
            if isinstance(n, (_End, _Else)):
                return lst, n
            lst.nodes.append(n)
        self.next_non_space()
        self.errorf("unexpected EOF")

    def text_or_action(self):
        it = self.next_non_space()
        if it.typ == T_TEXT:
            return _Text(it.pos, it.val)
        if it.typ == T_LEFT:
            self.action_line = it.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        self.unexpected(it, "input")

    def action(self):
        it = self.next_non_space()
        if it.typ == T_BLOCK:
            return self.block_control()
        if it.typ in (T_BREAK, T_CONTINUE):
            word = it.val
            nxt = self.next_non_space()
            if nxt.typ != T_RIGHT:
                self.unexpected(nxt, "{{" + word + "}}")
            if self.range_depth == 0:
                self.errorf("{{" + word + "}} outside {{range}}")
            return _BreakNode(it.pos) if it.typ == T_BREAK else _ContinueNode(it.pos)
        if it.typ == T_ELSE:
            pk = self.peek_non_space()
            if pk.typ in (T_IF, T_WITH):
                return _Else(pk.pos)
            return _Else(self.expect(T_RIGHT, "else").pos)
        if it.typ == T_END:
            return _End(self.expect(T_RIGHT, "end").pos)
        if it.typ == T_IF:
            return _If(*self.control("if"))
        if it.typ == T_RANGE:
            return _Range(*self.control("range"))
        if it.typ == T_WITH:
            return _With(*self.control("with"))
        if it.typ == T_TEMPLATE:
            return self.template_control()
        self.backup()
        pos = self.peek().pos
        return _Action(pos, self.pipeline("command", T_RIGHT))

    def control(self, context: str):
        mark = len(self.vars)
        try:
            pipe = self.pipeline(context, T_RIGHT)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list = None
            if isinstance(nxt, _Else):
                if context == "if" and self.peek().typ == T_IF:
                    self.next()
                    else_list = _List(nxt.pos)
                    else_list.nodes.append(_If(*self.control("if")))
                elif context == "with" and self.peek().typ == T_WITH:
                    self.next()
                    else_list = _List(nxt.pos)
                    else_list.nodes.append(_With(*self.control("with")))
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, _End):
                        self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe, lst, else_list
        finally:
            del self.vars[mark:]

    def template_control(self):
        context = "template clause"
        it = self.next_non_space()
        name = self.template_name(it, context)
        pipe = None
        if self.next_non_space().typ != T_RIGHT:
            self.backup()
            pipe = self.pipeline(context, T_RIGHT)
        return _TemplateCall(it.pos, name, pipe)

    def block_control(self):
        context = "block clause"
        it = self.next_non_space()
        name = self.template_name(it, context)
        pipe = self.pipeline(context, T_RIGHT)
        saved, self.vars = self.vars, ["$"]
        body, end = self.item_list()
        self.vars = saved
        if not isinstance(end, _End):
            self.errorf(f"unexpected {end} in {context}")
        self.add_definition(name, body)
        return _TemplateCall(it.pos, name, pipe)

    def template_name(self, it: _Item, context: str) -> str:
        if it.typ not in (T_STRING, T_RAWSTRING):
            self.unexpected(it, context)
        return self.unquote(it)

    def unquote(self, it: _Item) -> str:
        try:
            return _unquote(it.val)
        except ValueError as ex:
            self.errorf(str(ex))

    def pipeline(self, context: str, end: int) -> _Pipe:
        pipe = _Pipe(self.peek_non_space().pos)
        while True:  # declarations
            v = self.peek_non_space()
            if v.typ != T_VARIABLE:
                break
            mark = self.i
            self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.typ in (T_ASSIGN, T_DECLARE):
                pipe.is_assign = nxt.typ == T_ASSIGN
                self.next_non_space()
                pipe.decl.append(_Variable(v.pos, [v.val]))
                self.vars.append(v.val)
                break
            if nxt.typ == T_CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(_Variable(v.pos, [v.val]))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (T_VARIABLE, T_RIGHT, T_RPAREN):
                        continue
                    self.errorf("range can only initialize variables")
                self.errorf(f"too many declarations in {context}")
            self.i = mark
            break
        while True:
            it = self.next_non_space()
            if it.typ == end:
                if not pipe.cmds:
                    self.errorf(f"missing value for {context}")
                for k, c in enumerate(pipe.cmds[1:]):
                    if isinstance(c.args[0], (_Bool, _Dot, _Nil, _Number, _String)):
                        self.errorf(f"non executable command in pipeline stage {k + 2}")
                return pipe
            if it.typ in (T_BOOL, T_CHARCONST, T_COMPLEX, T_DOT, T_FIELD, T_IDENT, T_NUMBER, T_NIL,
                          T_RAWSTRING, T_STRING, T_VARIABLE, T_LPAREN):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                self.unexpected(it, context)

    def command(self) -> _Command:
        cmd = _Command(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            op = self.operand()
            if op is not None:
                cmd.args.append(op)
            it = self.next()
            if it.typ == T_SPACE:
                continue
            if it.typ in (T_RIGHT, T_RPAREN):
                self.backup()
            elif it.typ != T_PIPE:
                self.unexpected(it, "operand")
            break
        if not cmd.args:
            self.errorf("empty command")
        return cmd

    def operand(self):
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == T_FIELD:
            chain = _Chain(self.peek().pos, node)
            while self.peek().typ == T_FIELD:
                chain.fields.append(self.next().val[1:])
            if isinstance(node, _Field):
                node = _Field(chain.pos, node.ident + chain.fields)
            elif isinstance(node, _Variable):
                node = _Variable(chain.pos, node.ident + chain.fields)
            elif isinstance(node, (_Bool, _String, _Number, _Nil, _Dot)):
                self.errorf(f"unexpected . after term {_go_quote(str(node))}")
            else:
                node = chain
        return node

    def term(self):
        it = self.next_non_space()
        t = it.typ
        if t == T_IDENT:
            if it.val not in self.funcs:
                self.errorf(f"function {_go_quote(it.val)} not defined")
            return _Identifier(it.pos, it.val)
        if t == T_DOT:
            return _Dot(it.pos)
        if t == T_NIL:
            return _Nil(it.pos)
        if t == T_VARIABLE:
            parts = it.val.split(".")
            if parts[0] not in self.vars:
                self.errorf(f"undefined variable {_go_quote(parts[0])}")
            return _Variable(it.pos, parts)
        if t == T_FIELD:
            return _Field(it.pos, [it.val[1:]])
        if t == T_BOOL:
            return _Bool(it.pos, it.val == "true")
        if t in (T_CHARCONST, T_COMPLEX, T_NUMBER):
            try:
                return _Number(it.pos, it.val, _parse_number(it.val, t))
            except ValueError as ex:
                self.errorf(str(ex))
        if t == T_LPAREN:
            return self.pipeline("parenthesized pipeline", T_RPAREN)
        if t in (T_STRING, T_RAWSTRING):
            return _String(it.pos, it.val, self.unquote(it))
        self.backup()
        return None


def _is_empty(n) -> bool:
    if n is None:
        return True
    if isinstance(n, _List):
        return all(_is_empty(x) for x in n.nodes)
    if isinstance(n, _Text):
        return not n.text.strip(_SPACE)
    return False


# ---------------------------------------------------------------- values as Go sees them
def _go_type(v) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Struct):
        return v.type_name
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, (list, tuple)):
        return "[]string" if v and all(isinstance(x, str) for x in v) else "[]interface {}"
    if callable(v):
        return "func"
    return type(v).__name__


def _truth(v) -> bool:
    if v is None or v is MISSING:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


def _go_quote(s: str, ascii_only: bool = False) -> str:
    """strconv.Quote."""
    out = ['"']
    for c in s:
        o = ord(c)
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c.isprintable() and (o < 0x80 or not ascii_only):
            out.append(c)
        elif c in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(c)])
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\x{o:02x}")
        elif o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    out.append('"')
    return "".join(out)


def _go_float(f: float, verb: str = "g", prec: int = -1) -> str:
    """strconv.FormatFloat(f, verb, prec, 64) for e, f, g (and %v, which is g, -1)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if prec >= 0:
        if verb == "g":
            if prec == 0:
                prec = 1
            s = f"{f:.{prec}e}"
            mant, _, ex = s.partition("e")
            exp = int(ex)
            digits = mant.replace("-", "").replace(".", "").rstrip("0") or "0"
            eprec = prec
            if eprec > len(digits) and len(digits) >= exp + 1:
                eprec = len(digits)
            if exp < -4 or exp >= eprec:
                p = min(prec, len(digits)) - 1
                return (f"{f:.{max(p, 0)}e}")
            p = max(min(prec, len(digits)) - (exp + 1), 0) if prec > exp + 1 else 0
            return f"{f:.{p}f}"
        if verb == "e":
            return (f"{f:.{prec}e}")
        return f"{f:.{prec}f}"
    # the shortest representation that reads back as F
    neg = math.copysign(1, f) < 0
    if f == 0:
        digits, dp = "0", 1
    else:
        digits, exp10 = _shortest_digits(f)
        dp = len(digits) + exp10
    sign = "-" if neg else ""
    exp = dp - 1
    # the shortest %g switches to an exponent at 1e+06 (eprec 6 in strconv)
    if verb == "e" or exp < -4 or exp >= 6:
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _fmt_v(v, verb: str = "v", plus: bool = False) -> str:
    """fmt's %v of a value held in an interface."""
    if v is None:
        return "<nil>"
    if v is MISSING:
        return "<no value>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Struct) and v.type_name.startswith("struct "):
        # a plain Go struct's value: its fields in their order, {v v} (%+v: {Name:v Name:v})
        return "{" + " ".join(f"{k}:{_fmt_v(x)}" if plus else _fmt_v(x) for k, x in v.items()) + "}"
    if isinstance(v, dict):
        items = [(k, x) for k, x in v.items() if not (isinstance(v, Struct) and callable(x))]
        return "map[" + " ".join(f"{_fmt_v(k)}:{_fmt_v(x)}" for k, x in _sorted_items(items)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(_fmt_v(x) for x in v) + "]"
    if callable(v):
        return f"{id(v):#x}"
    return str(v)


def _sort_key(k):
    if isinstance(k, bool):
        return (0, int(k), "")
    if isinstance(k, (int, float)):
        return (1, k, "")
    return (2, 0, str(k))


def _sorted_items(items):
    return sorted(items, key=lambda kv: _sort_key(kv[0]))


def go_sprint(*args, ln: bool = False) -> str:
    """fmt.Sprint (spaces between operands when neither is a string) or fmt.Sprintln."""
    out = []
    for i, a in enumerate(args):
        if i and (ln or not isinstance(a, str) and not isinstance(args[i - 1], str)):
            out.append(" ")
        out.append(_fmt_v(a))
    if ln:
        out.append("\n")
    return "".join(out)


_PRINTF = re.compile(r"%([-+# 0]*)(?:\[(\d+)\])?(\*|\d+)?(?:\.(\*|\d*))?(?:\[(\d+)\])?(.?)", re.S)


def go_sprintf(fmt: str, *args) -> str:
    """fmt.Sprintf for the verbs scripts use (b c d e E f F g G o O q s t T U v x X %), with
    Go's %!verb(type=value), %!verb(MISSING) and %!(EXTRA ...) for what does not fit."""
    out: list[str] = []
    argi = 0
    i, n = 0, len(fmt)
    while i < n:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _PRINTF.match(fmt, j)
        flags, index1, width, prec, index2, verb = m.groups()
        i = m.end()
        index = index1 or index2
        if index is not None:
            if not 1 <= int(index) <= len(args):
                out.append(f"%!{verb}(BADINDEX)")
                continue
            argi = int(index) - 1
        if width == "*":
            width = args[argi] if argi < len(args) and isinstance(args[argi], int) else None
            argi += 1
            if width is None:
                out.append("%!(BADWIDTH)")
            elif width < 0:
                flags += "-"
                width = -width
        else:
            width = int(width) if width else None
        if prec == "*":
            p = args[argi] if argi < len(args) and isinstance(args[argi], int) else None
            argi += 1
            if p is None or p < 0:
                out.append("%!(BADPREC)")
                p = None
            prec = p
        elif prec is not None:
            prec = int(prec) if prec else 0
        if verb == "":
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        a = args[argi]
        argi += 1
        out.append(_fmt_one(a, verb, flags, width, prec))
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None or a is MISSING else f"{_go_type(a)}={_fmt_v(a)}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(s: str, flags: str, width: Optional[int], zero_ok: bool = True) -> str:
    if width is None or len(s) >= width:
        return s
    if "-" in flags:
        return s + " " * (width - len(s))
    if "0" in flags and zero_ok:
        sign = s[0] if s[:1] in "+-" else ""
        return sign + "0" * (width - len(s)) + s[len(sign):]
    return " " * (width - len(s)) + s


def _bad_verb(a, verb: str) -> str:
    if a is None or a is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({_go_type(a)}={_fmt_v(a)})"


def _fmt_one(a, verb: str, flags: str, width, prec) -> str:
    if verb == "T":
        return _pad("<nil>" if a is None or a is MISSING else _go_type(a), flags, width)
    if a is None or a is MISSING:
        return _pad("<nil>", flags, width) if verb == "v" else _bad_verb(a, verb)
    if isinstance(a, (list, tuple)) and verb not in ("x", "X") or isinstance(a, dict) and not verb == "T":
        if isinstance(a, dict):
            items = [(k, x) for k, x in a.items() if not (isinstance(a, Struct) and callable(x))]
            body = " ".join(f"{_fmt_one(k, verb, flags, width, prec)}:{_fmt_one(x, verb, flags, width, prec)}"
                            for k, x in _sorted_items(items))
            return "map[" + body + "]"
        return "[" + " ".join(_fmt_one(x, verb, flags, width, prec) for x in a) + "]"
    if isinstance(a, bool):
        if verb in "tv":
            return _pad("true" if a else "false", flags, width, False)
        return _bad_verb(a, verb)
    if isinstance(a, int):
        return _fmt_int(a, verb, flags, width, prec)
    if isinstance(a, float):
        return _fmt_float(a, verb, flags, width, prec)
    if isinstance(a, str):
        if verb in "sv":
            s = a[:prec] if prec is not None else a
        elif verb == "q":
            s = a[:prec] if prec is not None else a
            s = f"`{s}`" if "#" in flags and "`" not in s and all(c.isprintable() or c == "\t" for c in s) \
                else _go_quote(s, "+" in flags)
        elif verb in "xX":
            b = (a[:prec] if prec is not None else a).encode()
            sep = " " if " " in flags else ""
            pre = ("0x" if verb == "x" else "0X") if "#" in flags else ""
            s = sep.join(pre + (f"{x:02x}" if verb == "x" else f"{x:02X}") for x in b) if sep else \
                pre + (b.hex() if verb == "x" else b.hex().upper())
        else:
            return _bad_verb(a, verb)
        return _pad(s, flags, width)
    if isinstance(a, (list, tuple)):  # %x of a list
        return "[" + " ".join(_fmt_one(x, verb, flags, width, prec) for x in a) + "]"
    return _pad(_fmt_v(a), flags, width)


def _fmt_int(a: int, verb: str, flags: str, width, prec) -> str:
    if verb in "cqU":
        if verb == "c":
            s = chr(a) if 0 <= a <= 0x10FFFF else "\ufffd"
        elif verb == "q":
            c = chr(a) if 0 <= a <= 0x10FFFF else "\ufffd"
            s = "'" + _go_quote(c)[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
        else:
            s = f"U+{a:04X}"
            if "#" in flags and 0 <= a <= 0x10FFFF and chr(a).isprintable():
                s += f" '{chr(a)}'"
        return _pad(s, flags, width, False)
    bases = {"d": 10, "v": 10, "b": 2, "o": 8, "O": 8, "x": 16, "X": 16}
    if verb not in bases:
        return _bad_verb(a, verb)
    digits = format(abs(a), {"d": "d", "v": "d", "b": "b", "o": "o", "O": "o", "x": "x", "X": "X"}[verb])
    if prec is not None:
        digits = "" if prec == 0 and a == 0 else digits.rjust(prec, "0")
    prefix = ""
    if verb == "O":
        prefix = "0o"
    elif "#" in flags:
        prefix = {"b": "0b", "o": "0", "x": "0x", "X": "0X"}.get(verb, "")
        if verb == "o" and digits.startswith("0"):
            prefix = ""
    sign = "-" if a < 0 else "+" if "+" in flags else " " if " " in flags else ""
    s = sign + prefix + digits
    if width is not None and "0" in flags and "-" not in flags and prec is None and len(s) < width:
        return sign + prefix + "0" * (width - len(s)) + digits
    return _pad(s, flags, width, False)


def _hex_float(a: float, upper: bool) -> str:
    """%x of a float: -0x1.8p+00."""
    if math.isinf(a) or math.isnan(a):
        return _go_float(a)
    h = a.hex()  # [-]0x1.8000000000000p+0
    sign = "-" if h.startswith("-") else ""
    mant, _, exp = h.lstrip("-")[2:].partition("p")
    mant = mant.rstrip("0").rstrip(".")
    e = int(exp)
    s = f"{sign}0x{mant}p{'-' if e < 0 else '+'}{abs(e):02d}"
    return s.upper().replace("0X", "0X") if upper else s


def _fmt_float(a: float, verb: str, flags: str, width, prec) -> str:
    if verb in "xX" and prec is None:
        return _pad(_hex_float(a, verb == "X"), flags, width)
    if verb not in "eEfFgGv":
        return _bad_verb(a, verb)
    v = verb.lower()
    if v == "v":
        v = "g"
    if v == "f":
        s = _go_float(a, "f", 6 if prec is None else prec)
    elif v == "e":
        s = _go_float(a, "e", 6 if prec is None else prec)
    else:
        s = _go_float(a, "g", -1 if prec is None else prec)
    if verb in "EG":
        s = s.upper()
    if "+" in flags and not s.startswith(("-", "+")):
        s = "+" + s
    elif " " in flags and not s.startswith(("-", "+")):
        s = " " + s
    if math.isinf(a) or math.isnan(a):
        return _pad(s, flags, width, False)
    return _pad(s, flags, width)


def go_json(v, sort_keys: bool = False) -> str:
    """encoding/json with SetEscapeHTML(false): compact, Go's float format; methods of a
    Struct (callables) are left out as docker leaves out methods with arguments."""
    if v is None or v is MISSING:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise _FuncError(f"json: unsupported value: {_go_float(v)}")
        a = abs(v)
        if a != 0 and (a < 1e-6 or a >= 1e21):
            return _shortest_e(v)
        return _shortest_f(v)
    if isinstance(v, str):
        return _json_str(v)
    if isinstance(v, dict):
        items = [(k, x) for k, x in v.items() if not callable(x)]
        if sort_keys or (isinstance(v, Struct) and not v.type_name.startswith("struct ")):
            items = _sorted_items(items)  # (a plain Go struct keeps its fields' order)
        return "{" + ",".join(f"{_json_str(str(k))}:{go_json(x, sort_keys)}" for k, x in items) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(go_json(x, sort_keys) for x in v) + "]"
    raise _FuncError(f"json: unsupported type: {_go_type(v)}")


def _shortest_digits(v: float):
    d = Decimal(repr(abs(v)))
    t = d.as_tuple()
    digits = "".join(map(str, t.digits))
    exp10 = t.exponent
    stripped = digits.lstrip("0")
    digits = stripped.rstrip("0")
    exp10 += len(stripped) - len(digits)
    return digits or "0", exp10


def _shortest_f(v: float) -> str:
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    digits, exp10 = _shortest_digits(v)
    dp = len(digits) + exp10
    sign = "-" if v < 0 else ""
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return sign + digits + "0" * (dp - len(digits))
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


def _shortest_e(v: float) -> str:
    """encoding/json's exponent form: 1e+21, 1e-7 (no padding of the exponent)."""
    digits, exp10 = _shortest_digits(v)
    exp = len(digits) + exp10 - 1
    sign = "-" if v < 0 else ""
    m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{sign}{m}e{'-' if exp < 0 else '+'}{abs(exp)}"


_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}


def _json_str(s: str) -> str:
    out = ['"']
    for c in s:
        if c in _JSON_ESC:
            out.append(_JSON_ESC[c])
        elif ord(c) < 0x20 or c in "\u2028\u2029":
            out.append(f"\\u{ord(c):04x}")
        elif 0xD800 <= ord(c) < 0xE000:
            out.append("\ufffd")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- functions
class _FuncError(Exception):
    """An error a function returns: 'error calling NAME: MSG'."""


class _Func:
    """A function and the Go types of its parameters: 'any', 'string', 'int',
    'strings' ([]string); VARIADIC is the type of the ... parameter."""
    __slots__ = ("fn", "params", "variadic")

    def __init__(self, fn, params=(), variadic=None):
        self.fn, self.params, self.variadic = fn, tuple(params), variadic


def _index(item, *indexes):
    if item is None or item is MISSING:
        raise _FuncError("index of untyped nil")
    for ix in indexes:
        if ix is MISSING:
            ix = None
        if item is None or item is MISSING:
            raise _FuncError("index of nil pointer")
        if isinstance(item, (list, tuple, str)):
            seq = item.encode() if isinstance(item, str) else item
            x = _index_arg(ix, len(seq))
            if x == len(seq):  # past indexArg's check, caught by reflect
                raise _FuncError(f"reflect: {'string' if isinstance(item, str) else 'slice'} index out of range")
            item = seq[x]
        elif isinstance(item, dict):
            if not isinstance(ix, str):
                if ix is None:
                    raise _FuncError("value is nil; should be of type string")
                raise _FuncError(f"value has type {_go_type(ix)}; should be string")
            if isinstance(item, Struct):
                raise _FuncError(f"can't index item of type {item.type_name}")
            item = item.get(ix, "" if isinstance(item, StrMap) else None)
        else:
            raise _FuncError(f"can't index item of type {_go_type(item)}")
    return item


def _index_arg(ix, cap: int) -> int:
    if ix is None:
        raise _FuncError("cannot index slice/array with nil")
    if isinstance(ix, bool) or not isinstance(ix, int):
        raise _FuncError(f"cannot index slice/array with type {_go_type(ix)}")
    if ix < 0 or ix > cap:
        raise _FuncError(f"index out of range: {ix}")
    return ix


def _slice(item, *indexes):
    if item is None or item is MISSING:
        raise _FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise _FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise _FuncError("cannot 3-index slice a string")
        b = item.encode()
        cap = len(b)
    elif isinstance(item, (list, tuple)):
        b = item
        cap = len(item)
    else:
        raise _FuncError(f"can't slice item of type {_go_type(item)}")
    idx = [0, cap, cap]
    for k, ix in enumerate(indexes):
        idx[k] = _index_arg(None if ix is MISSING else ix, cap)
    if idx[0] > idx[1]:
        raise _FuncError(f"invalid slice index: {idx[0]} > {idx[1]}")
    if len(indexes) == 3 and idx[1] > idx[2]:
        raise _FuncError(f"invalid slice index: {idx[1]} > {idx[2]}")
    out = b[idx[0]:idx[1]]
    return out.decode("utf-8", "replace") if isinstance(out, bytes) else list(out)


def _len(item):
    if item is MISSING:
        raise _FuncError("reflect: call of reflect.Value.Type on zero Value")
    if item is None:
        raise _FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode())
    if isinstance(item, (list, tuple, dict)) and not isinstance(item, Struct):
        return len(item)
    raise _FuncError(f"len of type {_go_type(item)}")


_INT, _FLOAT, _STR, _BOOL = "int", "float", "string", "bool"


def _kind(v):
    if isinstance(v, bool):
        return _BOOL
    if isinstance(v, int):
        return _INT
    if isinstance(v, float):
        return _FLOAT
    if isinstance(v, str):
        return _STR
    return None


def _eq(a, *others):
    if not others:
        raise _FuncError("missing argument for comparison")
    a = None if a is MISSING else a
    k1 = _kind(a)
    for b in others:
        b = None if b is MISSING else b
        k2 = _kind(b)
        if k1 != k2:
            if a is not None and b is not None:
                raise _FuncError("incompatible types for comparison")
            truth = False
        elif k1 is not None:
            truth = a == b
        else:
            if a is None or b is None:
                truth = a is None and b is None
            elif isinstance(b, (list, tuple, dict)) or isinstance(a, (list, tuple, dict)):
                raise _FuncError(f"non-comparable type {_fmt_v(b)}: {_go_type(b)}")
            else:
                truth = a is b
        if truth:
            return True
    return False


def _lt(a, b):
    a = None if a is MISSING else a
    b = None if b is MISSING else b
    k1, k2 = _kind(a), _kind(b)
    if k1 is None or k2 is None:
        raise _FuncError("invalid type for comparison")
    if k1 != k2:
        raise _FuncError("incompatible types for comparison")
    if k1 == _BOOL:
        raise _FuncError("invalid type for comparison")
    if k1 == _STR:
        return a.encode() < b.encode()
    return a < b


def _le(a, b):
    return _lt(a, b) or _eq(a, b)


def _html(*args):
    s = _eval_args(args)
    return (s.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&#34;").replace("\0", "\ufffd"))


def _js(*args):
    s = _eval_args(args)
    out = []
    for c in s:
        o = ord(c)
        if c == "\\":
            out.append("\\\\")
        elif c == "'":
            out.append("\\'")
        elif c == '"':
            out.append('\\"')
        elif c in "<>&=":
            out.append(f"\\u{o:04X}")
        elif o < 0x20:
            out.append(f"\\u{o:04X}")
        elif o >= 0x80 and not c.isprintable():
            out.append(f"\\u{o:04X}")
        else:
            out.append(c)
    return "".join(out)


def _urlquery(*args):
    return urllib.parse.quote_plus(_eval_args(args), safe="-_.~")


def _eval_args(args) -> str:
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return go_sprint(*args)


def _call(name, fn, *args):
    if fn is None or fn is MISSING:
        raise _FuncError("call of nil")
    if not callable(fn) or isinstance(fn, (dict, list)):
        raise _FuncError(f"non-function {name} of type {_go_type(fn)}")
    try:
        return fn(*args)
    except TypeError as ex:
        raise _FuncError(f"wrong number of args for {name}: {ex}") from None


def _title(s: str) -> str:
    """strings.Title: the first letter of each word upper-cased, the rest kept."""
    out, prev = [], " "
    for c in s:
        out.append(c.upper() if _is_separator(prev) else c)
        prev = c
    return "".join(out)


def _is_separator(c: str) -> bool:
    if ord(c) < 0x80:
        return not (c.isalnum() or c == "_")
    if c.isalpha() or c.isdigit():
        return False
    return c.isspace()


def _map_runes(s: str, case) -> str:
    """strings.ToUpper/ToLower: rune by rune (ß stays ß, where Python makes SS)."""
    if s.isascii():
        return case(s)
    return "".join(m if len(m := case(c)) == 1 else c for c in s)


def _split(s: str, sep: str) -> list:
    if sep == "":
        return list(s)
    return s.split(sep)


def _pad_fn(s: str, prefix: int, suffix: int) -> str:
    if s == "":
        return s
    if prefix < 0 or suffix < 0:
        raise _FuncError("strings: negative Repeat count")
    return " " * prefix + s + " " * suffix


def _truncate(s: str, n: int) -> str:
    if len(s) < n:
        return s
    if n < 0:
        raise _FuncError(f"runtime error: slice bounds out of range [:{n}]")
    return s[:n]


BUILTINS: dict[str, _Func] = {
    "and": _Func(None, ("value",), "value"),
    "or": _Func(None, ("value",), "value"),
    "not": _Func(lambda a: not _truth(a), ("value",)),
    "call": _Func(_call, ("value",), "value"),
    "html": _Func(_html, (), "any"),
    "js": _Func(_js, (), "any"),
    "urlquery": _Func(_urlquery, (), "any"),
    "index": _Func(_index, ("value",), "value"),
    "slice": _Func(_slice, ("value",), "value"),
    "len": _Func(_len, ("value",)),
    "print": _Func(lambda *a: go_sprint(*a), (), "any"),
    "printf": _Func(go_sprintf, ("string",), "any"),
    "println": _Func(lambda *a: go_sprint(*a, ln=True), (), "any"),
    "eq": _Func(_eq, ("value",), "value"),
    "ne": _Func(lambda a, b: not _eq(a, b), ("value", "value")),
    "lt": _Func(_lt, ("value", "value")),
    "le": _Func(_le, ("value", "value")),
    "gt": _Func(lambda a, b: not _le(a, b), ("value", "value")),
    "ge": _Func(lambda a, b: not _lt(a, b), ("value", "value")),
}

# docker/cli templates.basicFunctions
DOCKER_FUNCS: dict[str, _Func] = {
    "json": _Func(lambda v: go_json(v), ("any",)),
    "split": _Func(_split, ("string", "string")),
    "join": _Func(lambda a, sep: sep.join(a or []), ("strings", "string")),
    "title": _Func(_title, ("string",)),
    "lower": _Func(lambda s: _map_runes(s, str.lower), ("string",)),
    "upper": _Func(lambda s: _map_runes(s, str.upper), ("string",)),
    "pad": _Func(_pad_fn, ("string", "int", "int")),
    "truncate": _Func(_truncate, ("string", "int")),
}

# docker/cli templates.HeaderFunctions: a table's header keeps the column names
HEADER_FUNCS: dict[str, _Func] = {
    "json": _Func(lambda v: v, ("string",)),
    "split": _Func(lambda v, _: v, ("string", "string")),
    "join": _Func(lambda v, _: v, ("string", "string")),
    "title": _Func(lambda v: v, ("string",)),
    "lower": _Func(lambda v: v, ("string",)),
    "upper": _Func(lambda v: v, ("string",)),
    "truncate": _Func(lambda v, _: v, ("string", "int")),
}

_FUNC_NAMES = frozenset(BUILTINS) | frozenset(DOCKER_FUNCS)


# ---------------------------------------------------------------- execution
class _BreakSignal(Exception):
    pass


class _ContinueSignal(Exception):
    pass


class _State:
    __slots__ = ("tmpl", "out", "node", "vars", "funcs", "depth")

    def __init__(self, tmpl: "Template", funcs: dict, data):
        self.tmpl, self.funcs = tmpl, funcs
        self.out: list[str] = []
        self.node = None
        self.vars = [["$", data]]
        self.depth = 0

    def errorf(self, msg: str):
        if self.node is None:
            raise TemplateError(f"template: : {msg}", "".join(self.out))
        pos = self.node.pos
        text = self.tmpl.text
        before = text[:pos]
        nl = before.rfind("\n")
        col = len(before.encode()) if nl < 0 else len(before[nl + 1:].encode())
        line = 1 + before.count("\n")
        raise TemplateError(f'template: :{line}:{col}: executing "" at <{self.node}>: {msg}', "".join(self.out))

    # variables
    def var_value(self, name: str):
        for k in range(len(self.vars) - 1, -1, -1):
            if self.vars[k][0] == name:
                return self.vars[k][1]
        self.errorf(f"undefined variable: {name}")

    def set_var(self, name: str, value) -> None:
        for k in range(len(self.vars) - 1, -1, -1):
            if self.vars[k][0] == name:
                self.vars[k][1] = value
                return
        self.errorf(f"undefined variable: {name}")

    # walking
    def walk(self, dot, node) -> None:
        self.node = node
        t = type(node)
        if t is _List:
            for x in node.nodes:
                self.walk(dot, x)
        elif t is _Text:
            self.out.append(node.text)
        elif t is _Action:
            v = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, v)
        elif t is _If or t is _With:
            mark = len(self.vars)
            v = self.eval_pipeline(dot, node.pipe)
            if _truth(v):
                self.walk(v if t is _With else dot, node.list)
            elif node.else_list is not None:
                self.walk(dot, node.else_list)
            del self.vars[mark:]
        elif t is _Range:
            self.walk_range(dot, node)
        elif t is _BreakNode:
            raise _BreakSignal
        elif t is _ContinueNode:
            raise _ContinueSignal
        elif t is _TemplateCall:
            self.walk_template(dot, node)
        else:
            self.errorf(f"unknown node: {node}")

    def walk_range(self, dot, r: _Range) -> None:
        self.node = r
        mark0 = len(self.vars)
        v = self.eval_pipeline(dot, r.pipe)
        mark = len(self.vars)
        decl = r.pipe.decl

        def one(index, elem) -> bool:
            if decl:
                if r.pipe.is_assign:
                    if len(decl) > 1:
                        self.set_var(decl[0].ident[0], index)
                    else:
                        self.set_var(decl[0].ident[0], elem)
                else:
                    self.vars[-1][1] = elem
            if len(decl) > 1:
                if r.pipe.is_assign:
                    self.set_var(decl[1].ident[0], elem)
                else:
                    self.vars[-2][1] = index
            try:
                self.walk(elem, r.list)
            except _ContinueSignal:
                pass
            finally:
                del self.vars[mark:]
            return True

        try:
            ran = False
            if v is None or v is MISSING:
                pass
            elif isinstance(v, (list, tuple)):
                for i, x in enumerate(v):
                    ran = one(i, x)
            elif isinstance(v, dict) and not isinstance(v, Struct):
                for k, x in _sorted_items(list(v.items())):
                    ran = one(k, x)
            elif isinstance(v, int) and not isinstance(v, bool):
                if len(decl) > 1:
                    self.errorf(f"can't use {v} to iterate over more than one variable")
                for i in range(v):
                    ran = one(i, i)
            else:
                self.errorf(f"range can't iterate over {_fmt_v(v)}")
            if not ran and r.else_list is not None:
                self.walk(dot, r.else_list)
        except _BreakSignal:
            pass
        finally:
            del self.vars[mark0:]

    def walk_template(self, dot, node: _TemplateCall) -> None:
        self.node = node
        body = self.tmpl.defs.get(node.name)
        if body is None:
            self.errorf(f"template {_go_quote(node.name)} not defined")
        if self.depth >= 1000:
            self.errorf("exceeded maximum template depth (1000)")
        dot = self.eval_pipeline(dot, node.pipe) if node.pipe else MISSING
        saved = self.vars
        self.vars = [["$", dot]]
        self.depth += 1
        try:
            self.walk(dot, body)
        finally:
            self.depth -= 1
            self.vars = saved

    def print_value(self, node, v) -> None:
        self.node = node
        if callable(v) and not isinstance(v, (dict, list)):
            self.errorf(f"can't print {node} of type func")
        self.out.append("<no value>" if v is MISSING else _fmt_v(v))

    # evaluation
    def eval_pipeline(self, dot, pipe: Optional[_Pipe]):
        if pipe is None:
            return MISSING
        self.node = pipe
        value = _NOFINAL
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
            if value is None:  # a nil interface: nothing inside
                value = MISSING
        for var in pipe.decl:
            if pipe.is_assign:
                self.set_var(var.ident[0], value)
            else:
                self.vars.append([var.ident[0], value])
        return value

    def not_a_function(self, args, final) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            self.errorf(f"can't give argument to non-function {args[0]}")

    def eval_command(self, dot, cmd: _Command, final):
        first = cmd.args[0]
        t = type(first)
        if t is _Field:
            self.node = first
            return self.eval_field_chain(dot, dot, first, first.ident, cmd.args, final)
        if t is _Chain:
            return self.eval_chain(dot, first, cmd.args, final)
        if t is _Identifier:
            return self.eval_function(dot, first, cmd, cmd.args, final)
        if t is _Pipe:
            self.not_a_function(cmd.args, final)
            return self.eval_pipeline(dot, first)
        if t is _Variable:
            return self.eval_variable(dot, first, cmd.args, final)
        self.node = first
        self.not_a_function(cmd.args, final)
        if t is _Bool:
            return first.value
        if t is _Dot:
            return dot
        if t is _Nil:
            self.errorf("nil is not a command")
        if t is _Number:
            return self.ideal_constant(first)
        if t is _String:
            return first.text
        self.errorf(f"can't evaluate command {_go_quote(str(first))}")

    def ideal_constant(self, c: _Number):
        self.node = c
        txt = c.text.lower()
        is_hex_int = txt.lstrip("+-").startswith("0x") and "p" not in txt
        if c.is_float and not is_hex_int and not txt.startswith("'") and any(x in txt for x in ".ep"):
            return c.float_val
        if c.is_int:
            if not -2 ** 63 <= c.int_val < 2 ** 63:
                self.errorf(f"{c.text} overflows int")
            return c.int_val
        return c.float_val

    def eval_chain(self, dot, chain: _Chain, args, final):
        self.node = chain
        if isinstance(chain.node, _Nil):
            self.errorf(f"indirection through explicit nil in {chain}")
        pipe = self.eval_arg(dot, "value", chain.node)
        return self.eval_field_chain(dot, pipe, chain, chain.fields, args, final)

    def eval_variable(self, dot, var: _Variable, args, final):
        self.node = var
        value = self.var_value(var.ident[0])
        if len(var.ident) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(dot, value, var, var.ident[1:], args, final)

    def eval_field_chain(self, dot, receiver, node, ident, args, final):
        for name in ident[:-1]:
            receiver = self.eval_field(dot, name, node, (), _NOFINAL, receiver)
        return self.eval_field(dot, ident[-1], node, args, final, receiver)

    def eval_field(self, dot, name, node, args, final, receiver):
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            self.errorf(f"nil pointer evaluating interface {{}}.{name}")
        has_args = len(args) > 1 or final is not _NOFINAL
        if isinstance(receiver, Struct):
            if name in receiver:
                v = receiver[name]
                if callable(v):
                    return self.eval_call(dot, _Func(v, (), "any"), False, node, name, args, final)
                if has_args:
                    self.errorf(f"{name} has arguments but cannot be invoked as function")
                return v
            if receiver.missing is _ERROR:
                self.errorf(f"can't evaluate field {name} in type {receiver.type_name}")
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            return receiver.missing
        if isinstance(receiver, dict):
            if has_args:
                self.errorf(f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        self.errorf(f"can't evaluate field {name} in type {_go_type(receiver)}")

    def eval_function(self, dot, node: _Identifier, cmd, args, final):
        self.node = node
        fn = self.funcs.get(node.name)
        if fn is None:
            self.errorf(f"{_go_quote(node.name)} is not a defined function")
        return self.eval_call(dot, fn, node.name in BUILTINS and fn is BUILTINS[node.name], cmd, node.name,
                              args, final)

    def eval_call(self, dot, fn: _Func, builtin: bool, node, name, args, final):
        args = args[1:] if args else ()
        num_in = len(args) + (final is not _NOFINAL)
        nparams = len(fn.params)
        if fn.variadic is not None:
            if num_in < nparams:
                self.errorf(f"wrong number of args for {name}: want at least {nparams} got {len(args)}")
        elif num_in != nparams:
            self.errorf(f"wrong number of args for {name}: want {nparams} got {num_in}")
        if builtin and name in ("and", "or"):
            v = None
            for a in args:
                v = self.eval_arg(dot, "value", a)
                if _truth(v) == (name == "or"):
                    return v
            if final is not _NOFINAL:
                v = final
            return v
        argv = [str(args[0])] if builtin and name == "call" else []
        for k, a in enumerate(args):
            typ = fn.params[k] if k < nparams else fn.variadic
            argv.append(self.eval_arg(dot, typ, a))
        if final is not _NOFINAL:
            typ = fn.params[num_in - 1] if num_in - 1 < nparams else fn.variadic
            argv.append(self.validate(final, typ))
        try:
            return fn.fn(*argv)
        except _FuncError as ex:
            self.node = node
            self.errorf(f"error calling {name}: {ex}")
        except TemplateError:
            raise
        except (TypeError, ValueError, KeyError, IndexError) as ex:
            self.node = node
            self.errorf(f"error calling {name}: {ex}")

    def validate(self, value, typ):
        """VALUE as an argument of Go type TYP: 'value' (reflect.Value: an invalid value
        stays invalid), 'any' (interface{}: nil), 'string', 'int', 'strings' ([]string)."""
        if typ == "value":
            return value
        if value is MISSING or value is None:
            if typ in ("any", "strings"):
                return None
            self.errorf(f"invalid value; expected {typ}")
        if typ == "any":
            return value
        if typ == "string":
            if isinstance(value, str):
                return value
        elif typ == "int":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
        elif typ == "strings":
            if isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
                return value
            got = "[]interface {}" if isinstance(value, (list, tuple)) else _go_type(value)
            self.errorf(f"wrong type for value; expected []string; got {got}")
        self.errorf(f"wrong type for value; expected {typ}; got {_go_type(value)}")

    def eval_arg(self, dot, typ, n):
        self.node = n
        t = type(n)
        if t is _Dot:
            v = dot
        elif t is _Nil:
            if typ in ("any", "strings"):
                return None
            if typ == "value":
                return MISSING
            self.errorf(f"cannot assign nil to {typ}")
        elif t is _Field:
            v = self.eval_field_chain(dot, dot, n, n.ident, [n], _NOFINAL)
        elif t is _Variable:
            v = self.eval_variable(dot, n, (), _NOFINAL)
        elif t is _Pipe:
            v = self.eval_pipeline(dot, n)
        elif t is _Identifier:
            v = self.eval_function(dot, n, n, (), _NOFINAL)
        elif t is _Chain:
            v = self.eval_chain(dot, n, (), _NOFINAL)
        elif typ == "string":
            if t is _String:
                return n.text
            self.errorf(f"expected string; found {n}")
        elif typ == "int":
            if t is _Number and n.is_int:
                return n.int_val
            self.errorf(f"expected integer; found {n}")
        elif typ in ("any", "value"):
            if t is _Bool:
                return n.value
            if t is _Number:
                return self.ideal_constant(n)
            if t is _String:
                return n.text
            self.errorf(f"can't handle assignment of {n} to empty interface argument")
        else:
            self.errorf(f"can't handle {n} for arg of type []string")
        return self.validate(v, typ)


class Template:
    """A parsed template; execute() runs it on one value."""

    def __init__(self, text: str):
        self.text = text
        p = _Parser(text, _FUNC_NAMES)
        self.root = p.parse()
        self.defs = p.defs

    def execute(self, data, header: bool = False) -> str:
        """The text of the template on DATA. HEADER: with docker's header functions
        (a table's header row). A TemplateError carries what was written before it."""
        funcs = {**BUILTINS, **DOCKER_FUNCS, **(HEADER_FUNCS if header else {})}
        st = _State(self, funcs, data)
        try:
            st.walk(data, self.root)
        except RecursionError:
            st.errorf("exceeded maximum template depth")
        return "".join(st.out)


@functools.lru_cache(maxsize=64)
def parse(text: str) -> Template:
    """TEXT parsed once (a stats loop renders the same format every second)."""
    return Template(text)


# ---------------------------------------------------------------- docker's formatter
def tabwrite(text: str, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter with padchar ' ' and no flags, as docker's tables use it
    (NewWriter(w, 10, 1, 3, ' ', 0)): tab-terminated cells aligned per column block;
    the last cell of a line is not part of any column."""
    lines = [ln.split("\t") for ln in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(a: int, b: int) -> None:
        for i in range(a, b):
            line = lines[i]
            for j, c in enumerate(line):
                out.append(c)
                if j < len(widths):
                    out.append(" " * (widths[j] - len(c)))
            if i + 1 < len(lines):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(out)


def _header_name(key: str) -> str:
    """docker's header for a field without one of its own: CreatedAt -> CREATED AT."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", " ", key).upper()


def format_rows(fmt: str, rows: list, columns: list[tuple[str, str]] = (), headers: Optional[dict] = None) -> str:
    """docker's formatter.Context.Write: FMT ('table', 'table TEMPLATE', 'json' or a
    template; '\\t' and '\\n' written out are a tab and a newline) on every row, each
    followed by a newline; a table gets a header row (the template on the column
    names, with the header functions; an error there cuts the header short as in
    docker) and aligned columns. COLUMNS: (header, field) of the default table.
    Raises TemplateError before anything is written."""
    table = fmt.startswith("table")
    if table:
        body = fmt[len("table"):]
    elif fmt == "json":
        body = "{{json .}}"
    else:
        body = fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    if table and not body:
        body = "\t".join("{{." + k + "}}" for _, k in columns)
    tmpl = parse(body)
    out = []
    for r in rows:
        out.append(tmpl.execute(r))
        out.append("\n")
    if not table:
        return "".join(out)
    names: dict[str, str] = {}
    for r in rows[:1]:
        names.update({k: _header_name(k) for k in r if isinstance(k, str)})
    names.update(headers or {})
    names.update({k: h for h, k in columns})
    try:
        head = tmpl.execute(Struct(names, "map[string]string", missing=""), header=True)
    except TemplateError as ex:
        head = ex.partial
    return tabwrite(head + "\n" + "".join(out))
