"""The Dockerfile's grammar, as BuildKit's frontend reads it (frontend/dockerfile/parser and
instructions): parser directives, comments, line continuations, heredocs, each instruction's
arguments, flags and checks, stages, and the meta ARGs before the first FROM.

parse(text) -> Dockerfile.  Nothing is substituted at parse time: the executor calls
Instruction.expand(env) with the stage's variables at the step (docker substitutes in ADD,
COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, ARG and RUN's --mount,
never in RUN, CMD, ENTRYPOINT, SHELL or a RUN heredoc, which the shell expands itself).
stage_base and needed_stages answer which images and stages a target needs.

Every syntax fault is a DockerfileError naming the line where its instruction starts:
"Dockerfile:LINE: what is wrong"."""
from __future__ import annotations

import dataclasses
import json
import platform as _platform
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional

from dunnage.builder.shell import Lex, ShellError
from dunnage.core.errors import InvalidParameter
from dunnage.core.units import UnitError, parse_duration


class DockerfileError(InvalidParameter):
    """A Dockerfile that cannot be read: "Dockerfile:LINE: what is wrong" (LINE 1-based)."""

    def __init__(self, message: str, line: Optional[int] = None):
        self.line = line
        self.reason = message
        super().__init__(f"Dockerfile:{line}: {message}" if line else f"Dockerfile: {message}")


class _Fault(Exception):
    """A fault found below parse(), given its line there."""


@dataclass
class Heredoc:
    """A here-document (RUN <<EOF, COPY <<EOF /dst): NAME its word (the terminator, and the
    file name COPY gives it); CONTENT its lines, each with its newline, leading tabs already
    removed where CHOMP (<<-EOF); EXPAND false where the word was quoted (<<"EOF", <<'EOF'),
    as sh leaves such a body unexpanded; FD the descriptor before << (RUN 3<<EOF), if any."""
    name: str
    content: str
    expand: bool
    chomp: bool
    fd: int = 0


@dataclass
class Instruction:
    """One instruction.  CMD the upper-case keyword.  ARGS: shell form the one command
    string; exec form (JSON, JSON true) the list; ADD/COPY the sources then the
    destination; FROM the image ([image] or [image, "AS", name]); EXPOSE/VOLUME the words;
    USER/WORKDIR/STOPSIGNAL/MAINTAINER the one value; HEALTHCHECK the type (CMD/NONE) then
    the command as for CMD; ONBUILD the trigger's text (what the image's OnBuild keeps).
    FLAGS by name without dashes, each a list of the values given in order (a bool flag
    "true" or "false").  PAIRS the key/value pairs of ENV, LABEL and ARG as written (quotes
    and $ kept until expand(); ARG without default: None).  HEALTH for HEALTHCHECK the
    image config's Healthcheck (Test, Interval/Timeout/StartPeriod/StartInterval in ns,
    Retries).  TRIGGER for ONBUILD the trigger parsed, None where it does not parse (docker
    fails then only in the build that runs it).  ORIGINAL the instruction's text, its
    continuation lines joined (BuildKit's history created_by); ESCAPE the escape token."""
    cmd: str
    args: list[str] = field(default_factory=list)
    json: bool = False
    flags: dict[str, list[str]] = field(default_factory=dict)
    pairs: list[tuple[str, Optional[str]]] = field(default_factory=list)
    heredocs: list[Heredoc] = field(default_factory=list)
    line: int = 0
    original: str = ""
    end_line: int = 0
    escape: str = "\\"
    health: Optional[dict] = None
    trigger: Optional["Instruction"] = None

    @property
    def sources(self) -> list["str | Heredoc"]:
        """ADD/COPY's sources in order: a path, or the Heredoc a source word like <<EOF
        stands for (its name the file's name)."""
        docs = iter(self.heredocs)
        return [next(docs, s) if _must_heredoc(s) is not None else s for s in self.args[:-1]]

    @property
    def dest(self) -> str:
        """ADD/COPY's destination."""
        return self.args[-1]

    def mounts(self, env: Mapping[str, str]) -> list["Mount"]:
        """RUN's --mount values parsed and checked, their values expanded with ENV (as
        BuildKit does at the step); a DockerfileError naming the line for a bad one."""
        try:
            return [parse_mount(spec, env, self.escape) for spec in self.flags.get("mount", ())]
        except _Fault as err:
            raise DockerfileError(str(err), self.line) from None

    def flag(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The last value given for flag NAME (a string or bool flag), else DEFAULT."""
        values = self.flags.get(name)
        return values[-1] if values else default

    def expand(self, env: Mapping[str, str]) -> "Instruction":
        """A copy with docker's substitution done where docker does it, from ENV (the
        stage's variables, build args included): raises DockerfileError naming the line
        for a substitution that cannot be done (${V:?msg}, an unterminated quote)."""
        lex = Lex(self.escape)
        word = lambda w: lex.process_word(w, env)  # noqa: E731
        new = dataclasses.replace(self, args=list(self.args), flags={k: list(v) for k, v in self.flags.items()},
                                  pairs=list(self.pairs), heredocs=list(self.heredocs))
        try:
            c = self.cmd
            if c in ("ENV", "LABEL", "ARG"):
                new.pairs = [(word(k), None if v is None else word(v)) for k, v in self.pairs]
            elif c in ("ADD", "COPY"):
                new.args = [word(a) for a in self.args]
                for name in ("chown", "chmod", "checksum"):
                    if name in new.flags:
                        new.flags[name] = [word(v) for v in new.flags[name]]
                raw = Lex("\\", skip_process_quotes=True)
                new.heredocs = [dataclasses.replace(h, content=raw.process_word(h.content, env)) if h.expand else h
                                for h in self.heredocs]
            elif c in ("WORKDIR", "USER", "STOPSIGNAL", "VOLUME"):
                new.args = [word(a) for a in self.args]
            elif c == "EXPOSE":
                new.args = [p for a in self.args for p in lex.process_words(a, env)]
            elif c == "FROM":
                new.args = [word(self.args[0])] + self.args[1:]
                if "platform" in new.flags:
                    new.flags["platform"] = [word(v) for v in new.flags["platform"]]
            elif c == "RUN":
                if "mount" in new.flags:
                    new.flags["mount"] = [word(v) for v in new.flags["mount"]]
        except ShellError as err:
            raise DockerfileError(str(err), self.line) from None
        return new

    def used_vars(self, env: Mapping[str, str]) -> set[str]:
        """The names of ENV that expand() reads (for the cache key: the build args a step uses)."""
        seen: set[str] = set()
        lex = Lex(self.escape)
        words: list[str] = []
        if self.cmd in ("ENV", "LABEL", "ARG"):
            words = [w for k, v in self.pairs for w in (k, v) if w is not None]
        elif self.cmd in ("ADD", "COPY", "WORKDIR", "USER", "STOPSIGNAL", "VOLUME", "EXPOSE", "FROM"):
            words = list(self.args) + [v for n in ("chown", "chmod", "checksum", "platform")
                                       for v in self.flags.get(n, ())]
        elif self.cmd == "RUN":
            words = list(self.flags.get("mount", ()))
        for w in words:
            try:
                seen |= lex.process(w, env).matched
            except ShellError:
                pass
        return seen


@dataclass
class Stage:
    """A build stage: from its FROM (BASE as written, before meta-ARG substitution; NAME
    lower-cased, as BuildKit compares names) to the next."""
    index: int
    name: Optional[str]
    base: str
    platform: Optional[str]
    instructions: list[Instruction]
    line: int
    original: str = ""


@dataclass
class Dockerfile:
    """A parsed Dockerfile: its stages, the ARGs before the first FROM (meta_args, as
    written), the escape token, the syntax directive (accepted, not acted on), and the
    warnings BuildKit prints for it (empty continuation lines)."""
    stages: list[Stage]
    meta_args: list[tuple[str, Optional[str]]]
    escape: str = "\\"
    syntax: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    meta_instructions: list[Instruction] = field(default_factory=list)

    def stage_index(self, ref: str) -> Optional[int]:
        """The stage REF names (a name, any case: the last stage of that name, as BuildKit;
        or an index), None if none does."""
        low = ref.lower()
        for st in reversed(self.stages):
            if st.name == low:
                return st.index
        if ref.isdigit() and int(ref) < len(self.stages):
            return int(ref)
        return None


@dataclass
class Mount:
    """A RUN --mount (BuildKit's instructions.Mount): TYPE bind, cache, tmpfs, secret or ssh;
    FROM a stage or image (bind/cache); SOURCE in it; TARGET in the container; READONLY
    (by default for bind, secret and ssh); SIZE tmpfs's bytes (0: none); ID a cache's or
    secret's id; SHARING shared/private/locked (cache); REQUIRED (secret/ssh); ENV the
    variable a secret goes into; MODE/UID/GID of a cache, secret or ssh mount."""
    type: str = "bind"
    from_: str = ""
    source: str = ""
    target: str = ""
    readonly: bool = True
    size: int = 0
    id: str = ""
    sharing: str = ""
    required: bool = False
    env: Optional[str] = None
    mode: Optional[int] = None
    uid: Optional[int] = None
    gid: Optional[int] = None


_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_SHARING = ("shared", "private", "locked")


def _go_bool(key: str, value: str) -> bool:
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise _Fault(f"invalid value for {key}: {value}")


def _csv_fields(spec: str) -> list[str]:
    import csv
    try:
        rows = list(csv.reader([spec], strict=True))
    except csv.Error as err:
        raise _Fault(f"failed to parse csv mounts: {err}") from None
    return rows[0] if rows else []


def parse_mount(spec: str, env: Optional[Mapping[str, str]], escape: str = "\\") -> Mount:
    """A --mount value (CSV of key=value) as BuildKit's parseMount reads it: with ENV None only
    what is checked at parse time (the CSV, no variable in from=); with ENV the values
    expanded and everything checked.  Raises _Fault (the caller names the line)."""
    m = Mount()
    ro_auto = True
    lex = Lex(escape)
    for f in _csv_fields(spec):
        key, eq, value = f.partition("=")
        key = key.lower()
        if not eq:
            if env is None:
                continue
            if key in ("readonly", "ro"):
                m.readonly, ro_auto = True, False
            elif key in ("readwrite", "rw"):
                m.readonly, ro_auto = False, False
            elif key == "required":
                if m.type not in ("secret", "ssh"):
                    raise _Fault(f"unexpected key '{key}' for mount type '{m.type}'")
                m.required = True
            else:
                raise _Fault(f"invalid field '{f}' must be a key=value pair")
            continue
        if env is not None:
            try:
                value = lex.process_word(value, env)
            except ShellError as err:
                raise _Fault(str(err)) from None
        elif key == "from":
            i = value.find("$")
            if i != -1 and i != len(value) - 1:
                raise _Fault(f"'{key}' doesn't support variable expansion, define alias stage instead")
            continue
        else:
            continue
        if key == "type":
            if value.lower() not in _MOUNT_TYPES:
                raise _Fault(f'unsupported mount type "{value}"')
            m.type = value.lower()
        elif key == "from":
            m.from_ = value
        elif key in ("source", "src"):
            m.source = value
        elif key in ("target", "dst", "destination"):
            m.target = value
        elif key in ("readonly", "ro"):
            m.readonly, ro_auto = _go_bool(key, value), False
        elif key in ("readwrite", "rw"):
            m.readonly, ro_auto = not _go_bool(key, value), False
        elif key == "required":
            if m.type not in ("secret", "ssh"):
                raise _Fault(f"unexpected key '{key}' for mount type '{m.type}'")
            m.required = _go_bool(key, value)
        elif key == "size":
            if m.type != "tmpfs":
                raise _Fault(f"unexpected key '{key}' for mount type '{m.type}'")
            from dunnage.core.units import parse_size
            try:
                m.size = parse_size(value)
            except UnitError:
                raise _Fault(f"invalid value for {key}: {value}") from None
        elif key == "id":
            m.id = value
        elif key == "sharing":
            if value.lower() not in _SHARING:
                raise _Fault(f'unsupported sharing value "{value}"')
            m.sharing = value.lower()
        elif key in ("mode", "uid", "gid"):
            digits = r"[0-7]+" if key == "mode" else r"[0-9]+"
            n = int(value, 8 if key == "mode" else 10) if re.fullmatch(digits, value) else -1
            if not 0 <= n < 2**32:
                raise _Fault(f"invalid value {value} for {key}")
            setattr(m, key, n)
        elif key == "env":
            m.env = value
        else:
            raise _Fault(f"unexpected key '{key}' in '{f}'")
    if m.type not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if getattr(m, key) is not None:
                raise _Fault(f'{key} not allowed for "{m.type}" type mounts')
    if ro_auto:
        m.readonly = m.type not in ("cache", "tmpfs")
    if m.type == "secret":
        if m.from_:
            raise _Fault("secret mount should not have a from")
        if m.sharing:
            raise _Fault("secret mount should not define sharing")
        if not m.source and not m.target and not m.id:
            raise _Fault("invalid secret mount. one of source, target required")
        if m.source and m.id:
            raise _Fault("both source and id can't be set")
    if m.sharing and m.type != "cache":
        raise _Fault(f"invalid cache sharing set for {m.type} mount")
    return m


# -- the line layer (parser/parser.go) ------------------------------------------------------

_WS = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.S)
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z", re.S)
# Go's unicode.IsSpace (Python's str.isspace also takes \x1c-\x1f)
_GO_WS = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" \
         "\u2028\u2029\u202f\u205f\u3000"
_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC_CMDS = ("ADD", "COPY", "RUN")
KNOWN = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
         "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def _go_space(ch: str) -> bool:
    """unicode.IsSpace."""
    return ch != "" and ch in _GO_WS


class _Directives:
    """The parser directives (# escape=`, # syntax=...) before anything else, each once."""

    def __init__(self):
        self.done = False
        self.seen: dict[str, str] = {}
        self.warnings: list[str] = []
        self.set_escape("\\")

    def set_escape(self, s: str) -> None:
        if s not in ("`", "\\"):
            raise _Fault(f"invalid escape token '{s}' does not match ` or \\")
        self.escape = s
        e = re.escape(s)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def line(self, text: str) -> bool:
        """Whether TEXT (a line, its newline stripped) is a directive, taking it if so."""
        if self.done:
            return False
        if not text.startswith("#"):
            self.done = True
            return False
        m = _DIRECTIVE.match(text[1:].lstrip(_GO_WS))
        if not m or m.group(1).lower() not in _DIRECTIVES:
            self.done = True
            return False
        key, value = m.group(1).lower(), m.group(2)
        if key in self.seen:
            raise _Fault(f"only one {key} parser directive can be used")
        self.seen[key] = value
        if key == "escape":
            self.set_escape(value)
        return True


def _is_comment(line: str) -> bool:
    s = line.lstrip(_GO_WS)
    return s.startswith("#")


def _process_line(d: _Directives, raw: str, strip_left: bool) -> str:
    token = raw.rstrip("\r\n")
    if strip_left:
        token = token.lstrip(_GO_WS)
    d.line(token)
    return "" if _is_comment(token) else token


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    if d.continuation.search(line):
        return d.continuation.sub(lambda m: m.group(1) or "", line, count=1), False
    return line, True


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """The leading --flags of an instruction's arguments, and the rest (BuildKit's
    extractBuilderFlags: quotes and escapes inside a flag are removed)."""
    words: list[str] = []
    buf: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _go_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            w = "".join(buf)
            if w != "--" and (blank_ok or w):
                words.append(w)
            break
        if phase == "word":
            if _go_space(ch):
                w = "".join(buf)
                phase = "spaces"
                if w == "--":
                    return line[pos:], words
                if blank_ok or w:
                    words.append(w)
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = "quote"
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
            continue
        if phase == "quote":
            if ch == quote:
                phase = "word"
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    phase = "word"
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            buf.append(ch)
            pos += 1
    return "", words


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WS.split(line.strip(_GO_WS), maxsplit=1)
    flags: list[str] = []
    args = ""
    if len(parts) == 2:
        args, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, args.strip(_GO_WS)


def _parse_words(rest: str, escape: str) -> list[str]:
    """Words split on spaces outside quotes, quotes and escapes kept (BuildKit's parseWords)."""
    words: list[str] = []
    buf: list[str] = []
    phase = "spaces"
    quote = ""
    blank_ok = False
    pos = 0
    n = len(rest)
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == "spaces":
            if pos == n:
                break
            if _go_space(ch):
                pos += 1
                continue
            phase = "word"
        if phase in ("word", "quote") and pos == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        if phase == "word":
            if _go_space(ch):
                phase = "spaces"
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
                phase = "quote"
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = rest[pos]
            buf.append(ch)
            pos += 1
            continue
        if phase == "quote":
            if ch == quote:
                phase = "word"
            if ch == escape and quote != "'":
                if pos + 1 == n:
                    phase = "word"
                    pos += 1
                    continue
                pos += 1
                buf.append(ch)
                ch = rest[pos]
            buf.append(ch)
            pos += 1
    return words


class _NotJSON(Exception):
    pass


def _no_constant(name: str):
    raise ValueError(name)


def _parse_json(rest: str) -> list[str]:
    """REST as a JSON array of strings; _NotJSON where it is no JSON array (then the shell
    form), _Fault where it is an array of other things."""
    rest = rest.lstrip(_GO_WS)
    if not rest.startswith("["):
        raise _NotJSON()
    try:
        value = json.loads(rest, parse_constant=_no_constant)
    except ValueError:
        raise _NotJSON() from None
    if not isinstance(value, list):
        raise _NotJSON()
    if not all(isinstance(s, str) for s in value):
        raise _Fault("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    try:
        return _parse_json(rest), True
    except _NotJSON:
        return [rest], False


def _maybe_json_list(rest: str) -> tuple[list[str], bool]:
    try:
        return _parse_json(rest), True
    except _NotJSON:
        return ([w for w in _WS.split(rest)] if rest else []), False


def _name_val(rest: str, key: str, escape: str) -> tuple[list[tuple[str, Optional[str]]], bool]:
    """ENV/LABEL's pairs, and whether in the legacy form (`ENV K V`: the value all the rest)."""
    words = _parse_words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        parts = _WS.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Fault(f"{key} must have two arguments")
        return [(parts[0], parts[1])], True
    out = []
    for w in words:
        if "=" not in w:
            raise _Fault(f"Syntax error - can't find = in {json.dumps(w, ensure_ascii=False)}. "
                         "Must be of the form: name=value")
        k, _, v = w.partition("=")
        out.append((k, v))
    return out, False


@dataclass
class _Node:
    """One instruction as the line layer reads it (BuildKit's parser.Node)."""
    cmd: str
    flags: list[str]
    args: list[str]
    json: bool
    pairs: list[tuple[str, Optional[str]]]
    original: str
    child: Optional["_Node"] = None
    heredocs: list[Heredoc] = field(default_factory=list)
    legacy: bool = False


def _node(line: str, d: _Directives) -> _Node:
    cmd, flags, rest = _split_command(line, d.escape)
    c = cmd.upper()
    args: list[str] = []
    is_json = False
    pairs: list[tuple[str, Optional[str]]] = []
    child = None
    legacy = False
    if c in ("ADD", "COPY", "VOLUME"):
        args, is_json = _maybe_json_list(rest)
    elif c in ("CMD", "ENTRYPOINT", "RUN", "SHELL"):
        args, is_json = _maybe_json(rest)
    elif c == "ARG":
        for w in _parse_words(rest, d.escape):
            k, eq, v = w.partition("=")
            pairs.append((k, v if eq else None))
        args = _parse_words(rest, d.escape)
    elif c in ("ENV", "LABEL"):
        pairs, legacy = _name_val(rest, c, d.escape)
    elif c in ("EXPOSE", "FROM"):
        args = _WS.split(rest) if rest else []
    elif c == "HEALTHCHECK":
        sep = 0
        while sep < len(rest) and not _go_space(rest[sep]):
            sep += 1
        typ, tail = rest[:sep], rest[sep:].lstrip(_GO_WS)
        if typ:
            sub, is_json = _maybe_json(tail)
            args = [typ] + sub
    elif c in ("MAINTAINER", "STOPSIGNAL", "USER", "WORKDIR"):
        args = [rest] if rest else []
    elif c == "ONBUILD":
        if rest:
            child = _node(rest, d)
            args = [child.cmd] + child.args
    return _Node(cmd, flags, args, is_json, pairs, line, child, legacy=legacy)


def _heredoc_word(word: str) -> Optional[Heredoc]:
    """The heredoc a word like <<EOF, <<-"EOF", 3<<EOF starts, None if it starts none."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    plain = Lex("\\", skip_unset_env=True).process_words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lex("\\", skip_unset_env=True, raw_quotes=True).process_words(rest, {})
    if len(raw) != 1:
        raise _Fault(f"internal lexing of heredoc produced inconsistent results: {rest}")
    count = lambda s: s.count("'") + s.count('"')  # noqa: E731
    return Heredoc(name=plain[0], content="", expand=count(plain[0]) == count(raw[0]), chomp=m.group(2) == "-",
                   fd=int(m.group(1) or 0))


def _must_heredoc(word: str) -> Optional[Heredoc]:
    """_heredoc_word, None where the word is a broken one (BuildKit's MustParseHeredoc)."""
    try:
        return _heredoc_word(word)
    except (_Fault, ShellError):
        return None


def _heredocs_of(line: str) -> list[Heredoc]:
    try:
        words = Lex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True).process_words(line, {})
    except ShellError:
        words = []
    out = []
    for w in words:
        h = _heredoc_word(w)
        if h is not None:
            out.append(h)
    return out


def _lines(text: str) -> list[str]:
    """Lines with their newlines kept, as BuildKit's scanner splits them (on \\n only)."""
    out = []
    start = 0
    while True:
        i = text.find("\n", start)
        if i < 0:
            if start < len(text):
                out.append(text[start:])
            return out
        out.append(text[start:i + 1])
        start = i + 1


def _read(text: str) -> tuple[list[tuple[_Node, int, int]], _Directives]:
    """The line layer: each instruction's node with its first and last line."""
    d = _Directives()
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = _lines(text)
    nodes: list[tuple[_Node, int, int]] = []
    i = 0
    current = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        try:
            got = _process_line(d, raw, True)
        except _Fault as err:
            raise DockerfileError(str(err), current + 1) from None
        current += 1
        start = current
        got, end = _trim_continuation(got, d)
        if end and not got:
            continue
        buf = [got]
        empty_continuation = False
        while not end and i < len(lines):
            raw = lines[i]
            i += 1
            try:
                got = _process_line(d, raw, False)
            except _Fault as err:
                raise DockerfileError(str(err), current + 1) from None
            current += 1
            if _is_comment(raw):
                continue
            if not got.lstrip(_GO_WS):
                empty_continuation = True
                continue
            got, end = _trim_continuation(got, d)
            buf.append(got)
        line = "".join(buf)
        if empty_continuation:
            d.warnings.append(f"Empty continuation line found in: {line}")
        try:
            node = _node(line, d)
        except _Fault as err:
            raise DockerfileError(str(err), start) from None
        target = node.child if node.cmd.upper() == "ONBUILD" and node.child is not None else node
        if target.cmd.upper() in _HEREDOC_CMDS and not target.json and "<<" in line:
            try:
                docs = _heredocs_of(line)
            except (_Fault, ShellError) as err:
                raise DockerfileError(str(err), start) from None
            for h in docs:
                body = []
                done = False
                while i < len(lines):
                    raw = lines[i]
                    i += 1
                    current += 1
                    end_word = raw.rstrip("\r\n")
                    if h.chomp:
                        end_word = end_word.lstrip("\t")
                    if end_word == h.name:
                        done = True
                        break
                    body.append(raw)
                if not done:
                    raise DockerfileError("unterminated heredoc", start)
                h.content = "".join(body)
                node.heredocs.append(h)
        nodes.append((node, start, current))
    if not nodes:
        raise DockerfileError("file with no instructions", current or 1)
    return nodes, d


# -- the instruction layer (instructions/parse.go) -------------------------------------------

_FLAGS: dict[str, dict[str, str]] = {
    "ADD": {"chown": "string", "chmod": "string", "link": "bool", "keep-git-dir": "bool", "checksum": "string",
            "unpack": "bool", "exclude": "strings"},
    "COPY": {"chown": "string", "from": "string", "chmod": "string", "link": "bool", "exclude": "strings",
             "parents": "bool"},
    "FROM": {"platform": "string"},
    "RUN": {"mount": "strings", "network": "string", "security": "string", "device": "strings"},
    "HEALTHCHECK": {"interval": "string", "timeout": "string", "start-period": "string",
                    "start-interval": "string", "retries": "string"},
}
_NO_FLAG_CHECK = ("ARG", "STOPSIGNAL")  # BuildKit never parses these two's flags


def _parse_flags(cmd: str, given: list[str]) -> dict[str, list[str]]:
    """GIVEN (--name=value words) checked against CMD's flags as BuildKit's BFlags does."""
    known = _FLAGS.get(cmd, {})
    out: dict[str, list[str]] = {}
    for a in given:
        if a == "--":
            break
        if not a.startswith("--"):
            raise _Fault(f"arg should start with -- : {a}")
        name, eq, value = a.partition("=")
        key = name[2:]
        kind = known.get(key)
        if kind is None:
            raise _Fault(f"unknown flag: {name}")
        if key in out and kind != "strings":
            raise _Fault(f"duplicate flag specified: {name}")
        if kind == "bool":
            if eq and value == "":
                raise _Fault(f"missing a value on flag: {name}")
            if value.lower() in ("true", ""):
                out[key] = ["true"]
            elif value.lower() == "false":
                out[key] = ["false"]
            else:
                raise _Fault(f"expecting boolean value for flag {name}, not: {value}")
        else:
            if not eq:
                raise _Fault(f"missing a value on flag: {name}")
            out.setdefault(key, []).append(value)
    return out


_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")


def _interval(name: str, value: Optional[str]) -> int:
    if not value:
        return 0
    try:
        ns = parse_duration(value)
    except UnitError:
        raise _Fault(f'time: invalid duration "{value}"') from None
    if ns == 0:
        return 0
    if ns < 1_000_000:
        raise _Fault(f'Interval "{name}" cannot be less than 1ms')
    return ns


def _instruction(node: _Node, start: int, end: int, escape: str) -> Instruction:
    c = node.cmd.upper()
    if c not in KNOWN:
        raise _Fault(f"unknown instruction: {node.cmd}")
    args = node.args
    ins = Instruction(cmd=c, args=list(args), json=node.json, pairs=list(node.pairs), heredocs=node.heredocs,
                      line=start, end_line=end, original=node.original.strip(_GO_WS), escape=escape)
    if c not in _NO_FLAG_CHECK and not (c == "HEALTHCHECK" and args and args[0].upper() == "NONE"):
        ins.flags = _parse_flags(c, node.flags)
    if c in ("ENV", "LABEL"):
        if not node.pairs:
            raise _Fault(f"{c} requires at least one argument")
        if any(k == "" for k, _ in node.pairs):
            raise _Fault(f"{c} names can not be blank")
    elif c == "MAINTAINER" or c in ("WORKDIR", "USER", "STOPSIGNAL"):
        if len(args) != 1:
            raise _Fault(f"{c} requires exactly one argument")
    elif c in ("ADD", "COPY"):
        if len(args) < 2:
            raise _Fault(f"{c} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined")
        if _must_heredoc(args[-1]) is not None:
            raise _Fault(f"{c} cannot accept a heredoc as a destination")
        by_name = {h.name: h for h in node.heredocs}
        docs = []
        for src in args[:-1]:
            h = _must_heredoc(src)
            if h is not None:
                body = by_name.get(h.name)
                content = body.content if body else ""
                if h.chomp:
                    content = re.sub(r"(?m)^\t+", "", content)
                docs.append(Heredoc(h.name, content, h.expand, h.chomp, h.fd))
        ins.heredocs = docs
    elif c == "FROM":
        if len(args) == 3 and args[1].lower() == "as":
            if not _STAGE_NAME.match(args[2].lower()):
                raise _Fault(f'invalid name for build stage: "{args[2]}", name can\'t start with a number '
                             "or contain symbols")
        elif len(args) != 1:
            raise _Fault("FROM requires either one or three arguments")
    elif c == "ONBUILD":
        if not args:
            raise _Fault("ONBUILD requires at least one argument")
        trig = args[0].strip(_GO_WS).upper()
        if trig == "ONBUILD":
            raise _Fault("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trig in ("MAINTAINER", "FROM"):
            raise _Fault(f"{trig} isn't allowed as an ONBUILD trigger")
        expr = re.sub(r"(?i)^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", "", node.original, count=1)
        for h in node.heredocs:
            expr += "\n" + h.content + h.name
        ins.args = [expr]
        ins.json = False
        ins.heredocs = []
        try:
            ins.trigger = _instruction(dataclasses.replace(node.child, heredocs=node.heredocs), start, end, escape)
        except _Fault:
            ins.trigger = None
    elif c in ("RUN", "CMD", "ENTRYPOINT"):
        if c == "RUN":
            ins.heredocs = [dataclasses.replace(h, content=re.sub(r"(?m)^\t+", "", h.content)) if h.chomp else h
                            for h in node.heredocs]
            for spec in ins.flags.get("mount", ()):
                parse_mount(spec, None)
            net = ins.flag("network", "default")
            if net not in ("default", "none", "host"):
                raise _Fault(f'invalid network mode "{net}"')
            sec = ins.flag("security", "sandbox")
            if sec not in ("sandbox", "insecure"):
                raise _Fault(f'security "{sec}" is not valid')
    elif c == "HEALTHCHECK":
        if not args:
            raise _Fault("HEALTHCHECK requires at least one argument")
        typ = args[0].upper()
        rest = args[1:]
        if typ == "NONE":
            if rest:
                raise _Fault("HEALTHCHECK NONE takes no arguments")
            ins.health = {"Test": ["NONE"]}
        else:
            if typ != "CMD":
                raise _Fault(f'Unknown type "{typ}" in HEALTHCHECK (try CMD)')
            if not rest:
                raise _Fault("Missing command after HEALTHCHECK CMD")
            test = (["CMD"] + rest) if node.json else ["CMD-SHELL", " ".join(rest)]
            f = ins.flags
            retries = 0
            if f.get("retries"):
                v = f["retries"][-1]
                if not re.fullmatch(r"[+-]?\d+", v) or not -2**31 <= int(v) < 2**31:
                    raise _Fault(f'strconv.ParseInt: parsing "{v}": invalid syntax')
                retries = int(v)
                if retries < 0:
                    raise _Fault(f"--retries cannot be negative ({retries})")
            ins.health = {"Test": test,
                          "Interval": _interval("interval", (f.get("interval") or [""])[-1]),
                          "Timeout": _interval("timeout", (f.get("timeout") or [""])[-1]),
                          "StartPeriod": _interval("start-period", (f.get("start-period") or [""])[-1]),
                          "StartInterval": _interval("start-interval", (f.get("start-interval") or [""])[-1]),
                          "Retries": retries}
    elif c == "EXPOSE":
        if not args:
            raise _Fault("EXPOSE requires at least one argument")
        ins.args = sorted(args)
    elif c == "VOLUME":
        if not args:
            raise _Fault("VOLUME requires at least one argument")
        vols = [v.strip(_GO_WS) for v in args]
        if any(v == "" for v in vols):
            raise _Fault("VOLUME specified can not be an empty string")
        ins.args = vols
    elif c == "ARG":
        if not node.pairs:
            raise _Fault("ARG requires at least one argument")
        if any(k == "" for k, _ in node.pairs):
            raise _Fault("ARG names can not be blank")
        ins.args = []
    elif c == "SHELL":
        if not args:
            raise _Fault("SHELL requires at least one argument")
        if not node.json:
            raise _Fault("SHELL requires the arguments to be in JSON form")
    return ins


def parse(text: str) -> Dockerfile:
    """TEXT (a Dockerfile's content) parsed and every instruction checked: directives,
    comments, continuations, heredocs; an unknown instruction, a bad flag or a wrong number
    of arguments is a DockerfileError naming the line."""
    nodes, d = _read(text)
    stages: list[Stage] = []
    meta: list[tuple[str, Optional[str]]] = []
    meta_ins: list[Instruction] = []
    for node, start, end in nodes:
        try:
            ins = _instruction(node, start, end, d.escape)
        except _Fault as err:
            raise DockerfileError(str(err), start) from None
        if ins.cmd == "FROM":
            name = ins.args[2].lower() if len(ins.args) == 3 else None
            stages.append(Stage(index=len(stages), name=name, base=ins.args[0], platform=ins.flag("platform"),
                                instructions=[], line=start, original=ins.original))
            continue
        if not stages:
            if ins.cmd == "ARG":
                meta.extend(ins.pairs)
                meta_ins.append(ins)
                continue
            raise DockerfileError("no build stage in current context", start)
        stages[-1].instructions.append(ins)
    if not stages:
        raise DockerfileError("dockerfile contains no stages to build", nodes[-1][1])
    return Dockerfile(stages=stages, meta_args=meta, escape=d.escape, syntax=detect_syntax(text), warnings=d.warnings,
                      meta_instructions=meta_ins)


def _directive_of(key: str, text: str, prefix: str) -> Optional[str]:
    """KEY's value among the directive lines at the top of TEXT written as PREFIX key=value."""
    seen: set[str] = set()
    for line in text.split("\n"):
        if not line.startswith(prefix):
            return None
        m = _DIRECTIVE.match(line[len(prefix):].lstrip(_GO_WS))
        if not m or m.group(1).lower() not in _DIRECTIVES:
            return None
        k = m.group(1).lower()
        if k in seen:
            return None
        seen.add(k)
        if k == key:
            return m.group(2)
    return None


def detect_syntax(text: str) -> Optional[str]:
    """The frontend a `# syntax=REF` directive names (its first word), as BuildKit's
    DetectSyntax finds it: after a BOM and a #! line, as `#` or `//` directives, or a JSON
    object's "syntax"; None if there is none.  dunnage accepts it and builds with its own."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first, nl, rest = text.partition("\n")
    if first.startswith("#!"):
        text = rest
    for prefix in ("#", "//"):
        value = _directive_of("syntax", text, prefix)
        if value is not None:
            return value.split(" ", 1)[0]
    try:
        obj = json.loads(text)
    except ValueError:
        return None
    value = obj.get("syntax") if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def parse_onbuild(expression: str, escape: str = "\\", line: int = 0) -> Instruction:
    """An ONBUILD trigger of a base image's config (its OnBuild list) as an instruction, the
    way the build that uses the image reads it; LINE is the FROM's, for the error."""
    try:
        nodes, _ = _read(("# escape=`\n" if escape == "`" else "") + expression)
    except DockerfileError as err:
        raise DockerfileError(err.reason, line or None) from None
    node, start, end = nodes[0]
    try:
        ins = _instruction(node, line, line, escape)
    except _Fault as err:
        raise DockerfileError(str(err), line or None) from None
    if ins.cmd in ("ONBUILD", "FROM", "MAINTAINER"):
        raise DockerfileError(f"{ins.cmd} isn't allowed as an ONBUILD trigger", line or None)
    return ins


# -- stages ------------------------------------------------------------------------------------

def default_args(df: Dockerfile, build_args: Mapping[str, str], target: Optional[str] = None) -> dict[str, str]:
    """The args every build has before any ARG (BuildKit's defaultArgs): the platform args
    (platform_args) and TARGETSTAGE (TARGET, else the last stage's name, else "default"),
    each overridden by a --build-arg of its name."""
    env = dict(platform_args())
    env["TARGETSTAGE"] = target or (df.stages[-1].name if df.stages else None) or "default"
    for k in env:
        if k in build_args:
            env[k] = build_args[k]
    return env


def meta_env(df: Dockerfile, build_args: Mapping[str, str], target: Optional[str] = None) -> dict[str, str]:
    """The variables FROM lines see (BuildKit's globalArgs): default_args, then the meta
    ARGs (before the first FROM) in order, each a --build-arg's value where given, else its
    default expanded with what comes before it; an ARG with neither stays unset."""
    env = default_args(df, build_args, target)
    lex = Lex(df.escape)
    for ins in df.meta_instructions or [Instruction("ARG", pairs=list(df.meta_args))]:
        for key, default in ins.pairs:
            if key in build_args:
                env[key] = build_args[key]
            elif default is not None:
                try:
                    env[key] = lex.process_word(default, env)
                except ShellError as err:
                    raise DockerfileError(str(err), ins.line or None) from None
    return env


def stage_base(df: Dockerfile, stage: Stage | int, build_args: Mapping[str, str], target: Optional[str] = None) -> str:
    """STAGE's FROM image after meta-ARG substitution (ARG before FROM, --build-arg); a
    DockerfileError where it comes out blank."""
    st = df.stages[stage] if isinstance(stage, int) else stage
    lex = Lex(df.escape)
    try:
        base = lex.process_word(st.base, meta_env(df, build_args, target))
    except ShellError as err:
        raise DockerfileError(str(err), st.line) from None
    if not base:
        raise DockerfileError(f"base name ({st.base}) should not be blank", st.line)
    return base


def stage_platform(df: Dockerfile, stage: Stage | int, build_args: Mapping[str, str],
                   target: Optional[str] = None) -> Optional[str]:
    """STAGE's --platform after meta-ARG substitution, None where not given."""
    st = df.stages[stage] if isinstance(stage, int) else stage
    if st.platform is None:
        return None
    try:
        value = Lex(df.escape).process_word(st.platform, meta_env(df, build_args, target))
    except ShellError as err:
        raise DockerfileError(str(err), st.line) from None
    if not value:
        raise DockerfileError(f"empty platform value from expression {st.platform}", st.line)
    return value


def _mount_from(spec: str) -> Optional[str]:
    """The from= of a RUN --mount value (CSV of key=value), None if it has none."""
    import csv
    try:
        fields = next(csv.reader([spec]))
    except (StopIteration, csv.Error):
        return None
    src = None
    for f in fields:
        k, _, v = f.partition("=")
        if k.strip().lower() == "from":
            src = v
    return src


def stage_deps(df: Dockerfile, index: int, build_args: Mapping[str, str]) -> list[tuple[int, Instruction | None]]:
    """The stages stage INDEX uses directly, each with the instruction that uses it (None
    for its FROM), as BuildKit links them: FROM an earlier stage's name (after meta-ARG
    substitution); COPY --from= and RUN --mount from= a stage's name (any stage, before or
    after) or index.  Other references are images."""
    st = df.stages[index]
    out: list[tuple[int, Instruction | None]] = []
    base = stage_base(df, st, build_args)
    earlier = [s.index for s in df.stages[:index] if s.name is not None and s.name == base]
    if earlier:
        out.append((earlier[-1], None))  # a name given twice: the last one before, as BuildKit
    by_name = {s.name: s.index for s in df.stages if s.name is not None}
    for ins in st.instructions:
        for i in [ins] + ([ins.trigger] if ins.trigger else []):
            if i.cmd == "COPY" and i.flag("from"):
                ref = i.flag("from")
                if Lex(df.escape).process_word(ref, {}) != ref:
                    raise DockerfileError("variable expansion is not supported for --from, define a new stage "
                                          "with FROM using ARG from global scope as a workaround", i.line)
                if ref.isdigit():
                    if int(ref) >= len(df.stages):
                        raise DockerfileError(f"invalid stage index {ref}", i.line)
                    out.append((int(ref), i))
                elif ref.lower() in by_name:
                    out.append((by_name[ref.lower()], i))
            if i.cmd == "RUN":
                for m in i.flags.get("mount", ()):
                    ref = _mount_from(m)
                    if ref and ref.lower() in by_name:
                        out.append((by_name[ref.lower()], i))
    return out


def _stage_label(st: Stage) -> str:
    return st.name or f"stage-{st.index}"


def needed_stages(df: Dockerfile, target: Optional[str], build_args: Mapping[str, str]) -> list[int]:
    """The indexes of the stages building TARGET (a stage name; None: the last stage)
    needs, in dependency order (each after those it uses), TARGET's last; a DockerfileError
    if no stage is named TARGET or stages use each other in a circle."""
    if target is None:
        goal = len(df.stages) - 1
    else:
        named = [s.index for s in df.stages if s.name is not None and s.name == target.lower()]
        if not named:
            raise DockerfileError(f'target stage "{target}" could not be found')
        goal = named[-1]
    order: list[int] = []
    done: set[int] = set()
    path: list[int] = []

    def visit(i: int) -> None:
        if i in done:
            return
        path.append(i)
        for dep, ins in stage_deps(df, i, build_args):
            if dep in path:
                line = ins.line if ins is not None else df.stages[i].line
                raise DockerfileError(f"circular dependency detected on stage: {_stage_label(df.stages[dep])}", line)
            visit(dep)
        path.pop()
        done.add(i)
        order.append(i)

    visit(goal)
    return order


# -- platform ----------------------------------------------------------------------------------

_ARCH = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", ""), "arm64": ("arm64", ""),
         "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"), "i386": ("386", ""), "i686": ("386", ""),
         "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


def platform_args() -> dict[str, str]:
    """The predefined platform ARGs for a build on this machine for this machine: BUILDPLATFORM,
    BUILDOS, BUILDOSVERSION, BUILDARCH, BUILDVARIANT and the TARGET* ones (as BuildKit sets
    them when no --platform is given)."""
    arch, variant = _ARCH.get(_platform.machine(), (_platform.machine(), ""))
    plat = f"linux/{arch}" + (f"/{variant}" if variant else "")
    out = {}
    for side in ("BUILD", "TARGET"):
        out[f"{side}PLATFORM"] = plat
        out[f"{side}OS"] = "linux"
        out[f"{side}OSVERSION"] = ""
        out[f"{side}ARCH"] = arch
        out[f"{side}VARIANT"] = variant
    return out
