"""Word expansion as a Dockerfile does it: BuildKit's shell.Lex (frontend/dockerfile/shell/lex.go).

Not a shell: the build substitutes variables in the instructions docker lets it (COPY, ENV,
WORKDIR, ...) before anything runs, with sh's quoting rules and a few of its parameter
expansions: $V, ${V}, ${V:-x}, ${V-x}, ${V:+x}, ${V+x}, ${V:?e}, ${V?e}, ${V#p}, ${V##p},
${V%p}, ${V%%p}, ${V/p/r}, ${V//p/r}.  The escape character is the Dockerfile's (the
`escape` directive: \\ or `).

Lex.process_word gives one string (spaces kept: ENV values, WORKDIR, ...); Lex.process_words
splits the result into words after substitution, quotes kept together (ADD/COPY sources,
EXPOSE, VOLUME, ...).  Each returns what it found too, so the cache can key a step on the
build args it used (Result.matched)."""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Mapping, Optional

from dunnage.core.errors import InvalidParameter


class ShellError(InvalidParameter):
    """A substitution that cannot be done: an unterminated quote or ${, a bad modifier, ${V:?}."""


_EOF = ""
_SPECIAL = set("@*#?-$!0")


_GO_WS = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
                   "\u2028\u2029\u202f\u205f\u3000")


def _isspace(ch: str) -> bool:
    """Go's unicode.IsSpace."""
    return ch in _GO_WS


def _isdigit(ch: str) -> bool:
    """Go's unicode.IsDigit (Nd only: no superscripts)."""
    return ch != "" and unicodedata.category(ch) == "Nd"


@dataclass
class Result:
    """What one word became: the string (word), its words (split after substitution), and the
    names it used that were set (matched) and unset (unmatched)."""
    word: str
    words: list[str]
    matched: set[str] = field(default_factory=set)
    unmatched: set[str] = field(default_factory=set)


class _Words:
    """Words split after substitution: spaces that came from text split, quoted ones do not."""

    def __init__(self):
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if _isspace(ch):
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.buf.append(ch)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def add_raw_string(self, s: str) -> None:
        self.buf.append(s)
        self.in_word = True

    def get(self) -> list[str]:
        if self.buf and "".join(self.buf):
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class Lex:
    """BuildKit's shell.Lex: ESCAPE the Dockerfile's escape token; raw_quotes keeps quote
    characters in the result, raw_escapes keeps escape tokens, skip_process_quotes treats
    quotes as plain text, skip_unset_env leaves references to unset names as written."""

    def __init__(self, escape: str = "\\", raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_process_quotes: bool = False, skip_unset_env: bool = False):
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """WORD with its substitutions done, as one string."""
        return self.process(word, env).word

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """WORD with its substitutions done, split into words as sh would (quotes hold)."""
        return self.process(word, env).words

    def process(self, word: str, env: Mapping[str, str]) -> Result:
        sw = _ShellWord(self, word, env)
        try:
            text, words = sw.process_stop_on(_EOF, self.raw_escapes)
        except ShellError as err:
            raise ShellError(f"failed to process {_go_quote(word)}: {err}") from None
        return Result(text, words, sw.matched, sw.unmatched)


def _go_quote(s: str) -> str:
    """Go's %q for the error messages BuildKit prints."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class _ShellWord:
    def __init__(self, lex: Lex, text: str, env: Mapping[str, str]):
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return _EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def get_env(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            while self.peek() != _EOF:
                ch = self.peek()
                if stop != _EOF and ch == stop:
                    self.next()
                    return "".join(result), words.get()
                fn = None
                if ch == "$":
                    fn = self.process_dollar
                elif ch == "<":
                    fn = self.process_possible_heredoc
                elif not self.lex.skip_process_quotes and ch == "'":
                    fn = self.process_single_quote
                elif not self.lex.skip_process_quotes and ch == '"':
                    fn = self.process_double_quote
                if fn is not None:
                    tmp = fn()
                    result.append(tmp)
                    if ch == "$":
                        words.add_string(tmp)
                    else:
                        words.add_raw_string(tmp)
                    continue
                ch = self.next()
                if ch == self.lex.escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == _EOF:
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop != _EOF:
                raise ShellError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.get()
        finally:
            self.raw_escapes = saved

    def process_single_quote(self) -> str:
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise ShellError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def process_double_quote(self) -> str:
        out = []
        ch = self.next()
        if self.lex.raw_quotes:
            out.append(ch)
        while True:
            p = self.peek()
            if p == _EOF:
                raise ShellError("unexpected end of statement while looking for matching double-quote")
            if p == '"':
                ch = self.next()
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if p == "$":
                out.append(self.process_dollar())
                continue
            ch = self.next()
            if ch == self.lex.escape:
                if self.raw_escapes:
                    out.append(ch)
                p = self.peek()
                if p == _EOF:
                    continue
                if p in ('"', "$", self.lex.escape):
                    ch = self.next()
            out.append(ch)

    def process_name(self) -> str:
        name = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not name and _isdigit(ch):
                while self.peek() != _EOF and _isdigit(self.peek()):
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL:
                return self.next()
            if not (ch.isalpha() or _isdigit(ch) or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def process_dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.process_name()
            if not name:
                return "$"
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value
        self.next()
        p = self.peek()
        if p == _EOF:
            raise ShellError("syntax error: missing '}'")
        if p in "{}:":
            raise ShellError("syntax error: bad substitution")
        name = self.process_name()
        ch = self.next()
        chs = ch
        null_is_unset = False
        if ch == "}":
            value, found = self.get_env(name)
            if not found and self.lex.skip_unset_env:
                return "${%s}" % name
            return value
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            chs += ch
        if null_is_unset or (ch in ("+", "-", "?", "#", "%") and ch != _EOF):
            raw = ch in ("#", "%")
            if null_is_unset and raw:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            try:
                word, _ = self.process_stop_on("}", raw)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${%s%s%s}" % (name, chs, word)
            if ch == "-":
                return word if (not found or (null_is_unset and value == "")) else value
            if ch == "+":
                return "" if (not found or (null_is_unset and value == "")) else word
            if ch not in ("+", "-", "?", "#", "%") or ch == _EOF:
                raise ShellError(f"unsupported modifier ({chs}) in substitution")
            if ch == "?":
                if not found:
                    raise ShellError(f"{name}: {word or 'is not allowed to be unset'}")
                if null_is_unset and value == "":
                    raise ShellError(f"{name}: {word or 'is not allowed to be empty'}")
                return value
            greedy = False
            if word and word[0] == ch:
                greedy = True
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        if ch == "/" and not null_is_unset:
            replace_all = self.peek() == "/"
            if replace_all:
                self.next()
            try:
                pattern, _ = self.process_stop_on("/", True)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '/' in ${}") from None
                raise
            try:
                replacement, _ = self.process_stop_on("}", True)
            except ShellError:
                if self.peek() == _EOF:
                    raise ShellError("syntax error: missing '}'") from None
                raise
            value, found = self.get_env(name)
            if self.lex.skip_unset_env and not found:
                return "${%s/%s/%s}" % (name, pattern, replacement)
            rx = _pattern_regex(pattern, greedy=True, anchored=False)
            if replace_all:
                return rx.sub(lambda m: replacement, value)
            m = rx.search(value)
            if m:
                value = value[:m.start()] + replacement + value[m.end():]
            return value
        raise ShellError("unsupported modifier (%s) in substitution" % (chs or "\ufffd"))

    def process_possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() != _EOF and self.peek() in ("\t", "\r", " "):
            space.append(self.next())
        return "<<" + "".join(space)


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> "re.Pattern[str]":
    """A shell wildcard pattern (? one character, * any run; no brackets) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
        elif tok == "?":
            out.append(".")
        elif tok == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise ShellError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(tok))
    return re.compile("".join(out), re.S)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy, True).search(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    """PATTERN backwards, its escapes kept before what they escape (a\\*c -> c\\*a)."""
    parts = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            parts.append(pattern[i:i + 2])
            i += 2
        else:
            parts.append(pattern[i])
            i += 1
    return "".join(reversed(parts))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def expand(word: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """WORD with docker's substitution done (one string)."""
    return Lex(escape).process_word(word, env)


def expand_words(word: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """WORD with docker's substitution done, split into words."""
    return Lex(escape).process_words(word, env)


def env_of(pairs: Optional[list[str]]) -> dict[str, str]:
    """KEY=VALUE strings as a mapping (the last of a key wins)."""
    out: dict[str, str] = {}
    for e in pairs or ():
        k, _, v = e.partition("=")
        out[k] = v
    return out
