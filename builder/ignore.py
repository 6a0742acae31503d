""".dockerignore: which of a build context's files the build never sees, by docker's rules
(moby/patternmatcher and its ignorefile reader, as BuildKit's fsutil walks with them).

A pattern matches a path relative to the context root, slash-separated: `*` and `?` any
characters but `/`, `[...]` a class, `\\` escapes, `**` any number of directories (also none);
a pattern matches a directory's contents too (`docs` ignores docs/README.md); a leading `/`
is dropped, each pattern is cleaned as Go's filepath.Clean does (`a/./b/` is `a/b`); a
pattern starting with `!` is an exception re-including what it matches; the last pattern
that matches a path decides.  Lines starting with `#` are comments.

For a Dockerfile at PATH, PATH.dockerignore next to it is read in place of the context's
.dockerignore (ignore_file)."""
from __future__ import annotations

import posixpath
import re
import warnings
from pathlib import Path
from typing import Optional

from dunnage.core.errors import InvalidParameter


# Go's unicode.IsSpace, what strings.TrimSpace trims (Python's strip also takes \x1c-\x1f)
_GO_WS = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
         "\u2028\u2029\u202f\u205f\u3000"


class PatternError(InvalidParameter):
    """A .dockerignore pattern docker refuses (`!` alone, a malformed [class], a trailing \\)."""


def go_clean(path: str) -> str:
    """Go's filepath.Clean on a slash path: one slash between names, no `.` names, `..`
    resolved lexically (and dropped at a root), "." for nothing."""
    out = posixpath.normpath(path) if path else "."
    if out.startswith("//"):
        out = "/" + out.lstrip("/")
    return out


def read_patterns(text: str) -> list[str]:
    """The patterns of a .dockerignore's TEXT as docker reads them (ignorefile.ReadAll): a
    BOM dropped, `#` lines skipped, each line trimmed and cleaned, a leading `/` dropped,
    `!` kept in front."""
    out = []
    if text.startswith("\ufeff"):
        text = text[1:]
    for line in text.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_WS)
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip(_GO_WS)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def _bad(pattern: str) -> PatternError:
    return PatternError(f"syntax error in pattern: {pattern!r}")


def _check_syntax(pattern: str) -> None:
    """Go's filepath.Match(pattern, ".") refusals: malformed [classes] and a trailing escape."""
    n = len(pattern)

    def esc(i: int) -> int:
        if i >= n or pattern[i] in "-]":
            raise _bad(pattern)
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise _bad(pattern)
        i += 1
        if i >= n:
            raise _bad(pattern)
        return i

    i = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise _bad(pattern)
            i += 2
        elif c == "[":
            i += 1
            if i < n and pattern[i] == "^":
                i += 1
            ranges = 0
            while True:
                if i < n and pattern[i] == "]" and ranges > 0:
                    i += 1
                    break
                i = esc(i)
                if pattern[i] == "-":
                    i = esc(i + 1)
                ranges += 1
        else:
            i += 1


_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"
_ESCAPE = set(".+()|{}$")


class Pattern:
    """One cleaned pattern (TEXT, without its `!`; EXCLUSION for a `!` one), compiled as
    patternmatcher does: an exact name, a prefix (`dir/**`), a suffix (`**/name`), or a regex."""

    def __init__(self, text: str, exclusion: bool):
        self.text = text
        self.exclusion = exclusion
        self.dirs = text.split("/")
        self.kind: Optional[str] = None
        self.regex: Optional[re.Pattern[str]] = None

    def __repr__(self) -> str:
        return ("!" if self.exclusion else "") + self.text

    def compile(self) -> None:
        rx = "^"
        kind = _EXACT
        p = self.text
        i = 0
        first = True
        while i < len(p):
            ch = p[i]
            i += 1
            if ch == "*":
                if i < len(p) and p[i] == "*":
                    i += 1
                    if i < len(p) and p[i] == "/":
                        i += 1
                    if i >= len(p):
                        if kind == _EXACT:
                            kind = _PREFIX
                        else:
                            rx += ".*"
                            kind = _REGEXP
                    else:
                        rx += "(.*/)?"
                        kind = _REGEXP
                    if first:
                        kind = _SUFFIX
                else:
                    rx += "[^/]*"
                    kind = _REGEXP
            elif ch == "?":
                rx += "[^/]"
                kind = _REGEXP
            elif ch in _ESCAPE:
                rx += "\\" + ch
            elif ch == "\\":
                if i < len(p):
                    rx += "\\" + p[i]
                    i += 1
                    kind = _REGEXP
                else:
                    rx += "\\\\"
            elif ch in "[]":
                rx += ch
                kind = _REGEXP
            else:
                rx += ch
            first = False
        if kind == _REGEXP:
            rx += "$"
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self.regex = re.compile(rx)
            except re.error:
                raise _bad(self.text) from None
        self.kind = kind

    def match(self, path: str) -> bool:
        if self.kind is None:
            self.compile()
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix[:1] == "/" and path == suffix[1:]
        return bool(self.regex.match(path))

    def without_trailing_glob(self) -> str:
        """The pattern without a trailing /** or /* (fsutil's patternWithoutTrailingGlob)."""
        s = self.text
        for tail in ("/**", "/*"):
            if s.endswith(tail):
                s = s[:-len(tail)]
        return s


class Matcher:
    """An ordered list of patterns (PatternMatcher): the last that matches a path decides."""

    def __init__(self, patterns: list[str]):
        self.patterns: list[Pattern] = []
        self.exclusions = False
        for raw in patterns:
            p = raw.strip(_GO_WS)
            if not p:
                continue
            p = go_clean(p)
            exclusion = p[0] == "!"
            if exclusion:
                if len(p) == 1:
                    raise PatternError('illegal exclusion pattern: "!"')
                p = p[1:]
                self.exclusions = True
            _check_syntax(p)
            self.patterns.append(Pattern(p, exclusion))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def __call__(self, path: str) -> bool:
        """matches(PATH): a Matcher is the predicate `excluded(rel)`."""
        return self.matches(path)

    def matches(self, path: str) -> bool:
        """Whether PATH (slash-separated, relative to the context) is excluded, a parent
        directory's match counting for what is inside it (MatchesOrParentMatches)."""
        path = go_clean(path)
        if path == ".":
            return False
        parent = posixpath.dirname(path) or "."
        parents = parent.split("/")
        matched = False
        for pat in self.patterns:
            if pat.exclusion != matched:
                continue
            m = pat.match(path)
            if not m and parent != ".":
                for i in range(len(parents)):
                    if pat.match("/".join(parents[:i + 1])):
                        m = True
                        break
            if m:
                matched = not pat.exclusion
        return matched

    def matches_with_parent(self, path: str, parent_info: Optional[list[bool]]) -> tuple[bool, list[bool]]:
        """matches() for a walk: PARENT_INFO the list this returned for PATH's directory
        (None at the top), reused so each directory is matched once
        (MatchesUsingParentResults); returns the answer and PATH's list."""
        matched = False
        info = [False] * len(self.patterns)
        for i, pat in enumerate(self.patterns):
            m = parent_info[i] if parent_info else False
            if not m:
                if pat.exclusion != matched:
                    continue
                m = pat.match(path)
                if not m and not parent_info:
                    parent = posixpath.dirname(path)
                    if parent:
                        parts = parent.split("/")
                        for j in range(len(parts)):
                            if pat.match("/".join(parts[:j + 1])):
                                m = True
                                break
            info[i] = m
            if m:
                matched = not pat.exclusion
        return matched, info

    def may_include_below(self, directory: str) -> bool:
        """Whether an exception (`!`) could re-include something below excluded DIRECTORY,
        so a walk must go into it (fsutil's shortcut: only where every exception is a plain
        path does it skip the directories no exception names)."""
        if not self.exclusions:
            return False
        specials = "*[]?^\\"
        if any(p.exclusion and any(c in p.without_trailing_glob() for c in specials) for p in self.patterns):
            return True
        slash = directory + "/"
        return any(p.exclusion and (p.without_trailing_glob() + "/").startswith(slash) for p in self.patterns)

    may_include_under = may_include_below


def matcher(text: str) -> Matcher:
    """The Matcher of a .dockerignore's TEXT."""
    return Matcher(read_patterns(text))


def ignore_file(context: Path, dockerfile: Optional[Path] = None) -> Optional[Path]:
    """The ignore file a build of CONTEXT with DOCKERFILE reads: DOCKERFILE.dockerignore
    beside the Dockerfile if there is one, else CONTEXT/.dockerignore, else None."""
    if dockerfile is not None:
        own = Path(str(dockerfile) + ".dockerignore")
        if own.is_file():
            return own
    top = Path(context) / ".dockerignore"
    return top if top.is_file() else None


def load(context: Path, dockerfile: Optional[Path] = None) -> Matcher:
    """The Matcher of CONTEXT's ignore file (ignore_file), an empty one if there is none."""
    path = ignore_file(context, dockerfile)
    if path is None:
        return Matcher([])
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as err:
        raise InvalidParameter(f"failed to read {path.name}: {err.strerror}") from None
    return Matcher(read_patterns(text))
