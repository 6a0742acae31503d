"""The Dockerfile's grammar (builder/dockerfile.py) and word expansion (builder/shell.py),
held to BuildKit's own test data: frontend/dockerfile/parser/testfiles (the AST dumps),
testfiles-negative, shell/envVarTest and shell/wordsTest are copied as they are under
tests/unit/data/buildkit (moby/buildkit 73ed6825, Apache-2.0); the Go tests' inline cases
(parser_test.go, parser_heredoc_test.go, instructions/parse_test.go, shell/lex_test.go) are
ported as data here.  Pure: no root, no kernel."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dunnage.builder import dockerfile as dfmod
from dunnage.builder.dockerfile import (DockerfileError, Heredoc, needed_stages, parse, parse_onbuild,
                                        platform_args, stage_base)
from dunnage.builder.shell import Lex, ShellError, _pattern_regex, _reverse_pattern
from dunnage.core.errors import InvalidParameter

DATA = Path(__file__).parent / "data" / "buildkit"


# -- BuildKit's AST dump, to compare the line layer with its testfiles -----------------------

def go_quote(s: str) -> str:
    """Go's strconv.Quote."""
    out = ['"']
    for ch in s:
        esc = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
               "\\": "\\\\", '"': '\\"'}.get(ch)
        if esc:
            out.append(esc)
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out) + '"'


def dump(node) -> str:
    """parser.Node.Dump of one instruction."""
    parts = [node.cmd.lower()]
    if node.flags:
        parts.append("[" + " ".join(go_quote(f) for f in node.flags) + "]")
    if node.cmd.upper() == "ONBUILD" and node.child is not None:
        parts.append("(" + dump(node.child) + ")\n")
        return " ".join(parts).strip()
    if node.cmd.upper() in ("ENV", "LABEL"):
        for k, v in node.pairs:
            parts += [go_quote(k), go_quote(v), go_quote("" if node.legacy else "=")]
    else:
        parts += [go_quote(a) for a in node.args]
    return " ".join(parts)


PARSER_CASES = sorted(p.name for p in (DATA / "parser").iterdir())


@pytest.mark.parametrize("name", PARSER_CASES)
def test_buildkit_parser_testfiles(name):
    text = (DATA / "parser" / name / "Dockerfile").read_text()
    want = (DATA / "parser" / name / "result").read_text()
    nodes, _ = dfmod._read(text)
    assert "".join(f"({dump(n)})\n" for n, _, _ in nodes) == want


@pytest.mark.parametrize("name", sorted(p.name for p in (DATA / "parser-negative").iterdir()))
def test_buildkit_parser_negative_testfiles(name):
    with pytest.raises(DockerfileError):
        parse((DATA / "parser-negative" / name / "Dockerfile").read_text())


def test_every_testfile_parses_into_stages_or_names_its_fault():
    """The whole pipeline over BuildKit's positive testfiles: each parses (or, where the file
    holds a deliberately odd instruction, fails with a line)."""
    for name in PARSER_CASES:
        try:
            df = parse((DATA / "parser" / name / "Dockerfile").read_text())
        except DockerfileError as err:
            assert err.line and str(err).startswith(f"Dockerfile:{err.line}: ")
        else:
            assert df.stages


def test_line_numbers_of_instructions_spanning_blank_and_continued_lines():
    nodes, d = dfmod._read((DATA / "testfile-line.Dockerfile").read_text())
    assert [(s, e) for _, s, e in nodes] == [(5, 5), (11, 12), (17, 31)]
    assert d.escape == "\\"


@pytest.mark.parametrize("text, words", [
    ("foo", ["foo"]), ("foo bar", ["foo", "bar"]), ("foo\\ bar", ["foo\\ bar"]), ("foo=bar", ["foo=bar"]),
    ("foo bar 'abc xyz'", ["foo", "bar", "'abc xyz'"]), ('foo bar "abc xyz"', ["foo", "bar", '"abc xyz"']),
    ("àöû", ["àöû"]), ('föo bàr "âbc xÿz"', ["föo", "bàr", '"âbc xÿz"']),
])
def test_parse_words(text, words):
    assert dfmod._parse_words(text, "\\") == words


# -- heredocs (parser_heredoc_test.go) -------------------------------------------------------

HEREDOC_FILE = """
FROM alpine:3.6

ENV NAME=me

RUN ls

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN "<<NOHEREDOC"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
"foo"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t"""

H = Heredoc
HEREDOC_WANT = [
    [],  # ENV
    [],  # RUN ls
    [H("EMPTY", "", True, False)],
    [H("EMPTY2", "", True, False, fd=3)],
    [],  # RUN "<<NOHEREDOC"
    [H("INDENT", "\tfoo\n\tbar\n", True, False)],
    [H("UNINDENT", "baz\nquux\n", True, True)],  # chomped here already (BuildKit chomps at dispatch)
    [H("UNINDENT2", "baz\nquux\n", True, True)],
    [H("EXPAND", "expand $NAME\n", True, True)],
    [H("NOEXPAND", "don't expand $NAME\n", False, True)],
    [H("COPY", "echo hello world\necho foo bar\n", True, False)],
    [H("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", True, False)],
    [H("MOUNT", "echo hello\n", True, False)],
    [H("FILE1", "content 1\n", True, False), H("FILE2", "content 2\n", True, False)],
    [H("EOF", "\"foo\"\n'bar'\n", True, False)],
    [H("X", "Y\n", True, False), H("Y", "X\n", True, False)],
    [H("COMPLEX", "print('hello world')\n", True, False)],
    [H("file.txt", "hello world\n", True, False)],
    [H("eof", "echo foo\n", False, False)],
    [H("eo'f", "echo foo\n", True, False)],
    [H("eo'f", "echo foo\n", False, False)],
    [H("one two", "echo bar\n", False, False)],
    [H("$EOF", "", True, False)],
    [H("EOF", "", True, False)],
    [H("EOF", "", True, False)],
]


def test_heredocs_extracted():
    df = parse(HEREDOC_FILE)
    assert [i.heredocs for i in df.stages[0].instructions] == HEREDOC_WANT
    run = df.stages[0].instructions[12]
    assert run.cmd == "RUN" and run.args == ["<<MOUNT"] and run.flags == {"mount": ["type=cache,target=/foo"]}


def test_copy_heredoc_sources_in_order_with_paths():
    copy = parse("FROM x\nCOPY <<EOF foo.txt <<-E2 /bar\nthis is inline\nEOF\n\tsecond\nE2\n").stages[0].instructions[0]
    assert copy.sources == [H("EOF", "this is inline\n", True, False), "foo.txt", H("E2", "second\n", True, True)]
    assert copy.dest == "/bar"


def test_heredocs_not_in_json_form():
    df = parse('\nFROM alpine:3.6\n\nRUN ["whoami"]\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n\t')
    assert [(i.args, i.json, i.heredocs) for i in df.stages[0].instructions] == [
        (["whoami"], True, []), (["<<EOF"], True, []), (["<<'EOF'"], True, [])]


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'", '<<-"EOF"', '<<EO"F"',
                                  "<< EOF", "<<- EOF"])
def test_heredoc_words(word):
    assert dfmod._heredoc_word(word).name == "EOF"


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_not_heredoc_words(word):
    assert dfmod._heredoc_word(word) is None


@pytest.mark.parametrize("word", ["<<'EOF", '<<"EOF', "<<EOF'", '<<EOF"'])
def test_broken_heredoc_words(word):
    with pytest.raises((ShellError, dfmod._Fault)):
        dfmod._heredoc_word(word)


@pytest.mark.parametrize("line, names", [
    ("RUN <<EOF", ["EOF"]), ("RUN <<-EOF", ["EOF"]), ("RUN <<- EOF", []), ("RUN << -EOF", ["-EOF"]),
    ("RUN <<'EOF'", ["EOF"]), ("RUN 4<<EOF", ["EOF"]), ("RUN <<EOF <<EOF2", ["EOF", "EOF2"]),
    ("RUN '<<EOF'", []), ('RUN "<<EOF"', []),
])
def test_heredocs_from_line(line, names):
    assert [h.name for h in dfmod._heredocs_of(line)] == names


def test_unterminated_heredoc_names_its_instruction():
    with pytest.raises(DockerfileError, match=r"^Dockerfile:3: unterminated heredoc$"):
        parse("FROM x\n\nRUN <<EOF\necho\n")


def test_onbuild_heredoc_kept_in_the_trigger_text():
    ins = parse("FROM x\nONBUILD RUN <<EOF\necho hi\nEOF\n").stages[0].instructions[0]
    assert ins.args == ["RUN <<EOF\necho hi\nEOF"]
    assert ins.trigger.cmd == "RUN" and ins.trigger.heredocs == [H("EOF", "echo hi\n", True, False)]


# -- instructions (instructions/parse_test.go) -----------------------------------------------

def fault(text: str) -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert isinstance(info.value, InvalidParameter)
    return info.value


@pytest.mark.parametrize("cmd", ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"])
def test_exactly_one_argument(cmd):
    assert str(fault(f"FROM x\n{cmd}")) == f"Dockerfile:2: {cmd} requires exactly one argument"


@pytest.mark.parametrize("cmd", ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME", "ARG", "SHELL"])
def test_at_least_one_argument(cmd):
    assert str(fault(f"FROM x\n{cmd}")) == f"Dockerfile:2: {cmd} requires at least one argument"


@pytest.mark.parametrize("cmd", ["ADD", "COPY"])
def test_no_destination(cmd):
    assert str(fault(f"FROM x\n{cmd} arg1")) == (f"Dockerfile:2: {cmd} requires at least two arguments, but only "
                                                  "one was provided. Destination could not be determined")


@pytest.mark.parametrize("cmd", ["ENV", "LABEL"])
def test_blank_names(cmd):
    assert str(fault(f"FROM x\n{cmd} =arg2")) == f"Dockerfile:2: {cmd} names can not be blank"


@pytest.mark.parametrize("text, message", [
    ("COPY\t\n\t\tquux \\\n      bar", "COPY requires at least two arguments, but only one was provided. "
                                           "Destination could not be determined"),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("FOO bar", "unknown instruction: FOO"),
    ("foo bar", "unknown instruction: foo"),
    ("COPY /foo <<EOF\nEOF", "COPY cannot accept a heredoc as a destination"),
    ("COPY --from=a --from=b x y", "duplicate flag specified: --from"),
    ("COPY --link=maybe x y", "expecting boolean value for flag --link, not: maybe"),
    ("COPY --link= x y", "missing a value on flag: --link"),
    ("COPY --chown x y", "missing a value on flag: --chown"),
    ("ADD --from=x a b", "unknown flag: --from"),
    ("RUN --mount type=cache echo", "missing a value on flag: --mount"),
    ("RUN --bogus=1 echo", "unknown flag: --bogus"),
    ("CMD --doit [\"a\"]", "unknown flag: --doit"),
    ("SHELL /bin/sh -c", "SHELL requires the arguments to be in JSON form"),
    ("SHELL []", "SHELL requires at least one argument"),
    ("CMD [\"echo\", [\"nested json\"]]", "when using JSON array syntax, arrays must be comprised of strings only"),
    ("RUN [\"a\", 1]", "when using JSON array syntax, arrays must be comprised of strings only"),
    ("VOLUME [\"\"]", "VOLUME specified can not be an empty string"),
    ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
    ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
    ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
    ("HEALTHCHECK --interval=50ns CMD true", 'Interval "interval" cannot be less than 1ms'),
    ("HEALTHCHECK --timeout=soon CMD true", 'time: invalid duration "soon"'),
    ("HEALTHCHECK --retries=-1 CMD true", "--retries cannot be negative (-1)"),
    ("HEALTHCHECK --retries=x CMD true", 'strconv.ParseInt: parsing "x": invalid syntax'),
    ("HEALTHCHECK --bogus=1 CMD true", "unknown flag: --bogus"),
    ("FROM a b", "FROM requires either one or three arguments"),
    ("FROM a AS 1st", 'invalid name for build stage: "1st", name can\'t start with a number or contain symbols'),
    ("FROM a AS b$c", 'invalid name for build stage: "b$c", name can\'t start with a number or contain symbols'),
    ("FROM --plat=x a", "unknown flag: --plat"),
    ("ENV A=1 B", 'Syntax error - can\'t find = in "B". Must be of the form: name=value'),
    ("LABEL onlykey", "LABEL must have two arguments"),
    ("ENV onlykey", "ENV must have two arguments"),
])
def test_error_cases(text, message):
    err = fault("FROM busybox\n" + text)
    assert err.line == 2 and str(err) == f"Dockerfile:2: {message}"


def test_error_line_is_where_the_instruction_starts():
    assert fault("FROM x\n# c\nRUN a \\\n  b\nCOPY \\\n  only\n").line == 5


@pytest.mark.parametrize("text, message, line", [
    ("", "file with no instructions", 1),
    ("# only a comment\n\n", "file with no instructions", 2),
    ("RUN echo\nFROM x", "no build stage in current context", 1),
    ("ARG A\n", "dockerfile contains no stages to build", 1),
    ("# escape=x\nFROM a", "invalid escape token 'x' does not match ` or \\", 1),
    ("# escape=`\n# escape=\\\nFROM a", "only one escape parser directive can be used", 2),
    ("# syntax=a\n# syntax=b\nFROM a", "only one syntax parser directive can be used", 2),
])
def test_file_faults(text, message, line):
    err = fault(text)
    assert (err.reason, err.line) == (message, line)


def test_flags_kept_by_name_in_order():
    ins = parse("FROM a\nRUN --mount=type=cache,target=/a --mount=type=tmpfs,target=/b --network=none "
                "--security=insecure echo\n").stages[0].instructions[0]
    assert ins.flags == {"mount": ["type=cache,target=/a", "type=tmpfs,target=/b"], "network": ["none"],
                         "security": ["insecure"]}
    assert ins.args == ["echo"] and ins.flag("network") == "none" and ins.flag("device") is None
    copy = parse("FROM a\nCOPY --link --chmod=0755 --chown=1:2 --from=b --exclude=*.o --exclude=x a b\n"
                 ).stages[0].instructions[0]
    assert copy.flags == {"link": ["true"], "chmod": ["0755"], "chown": ["1:2"], "from": ["b"],
                          "exclude": ["*.o", "x"]}
    assert parse("FROM a\nCOPY --link=false a b").stages[0].instructions[0].flags == {"link": ["false"]}


def test_arg_and_stopsignal_take_any_flag_as_buildkit():
    """BuildKit never parses these two's flags: they are dropped, not refused."""
    df = parse("FROM a\nARG --x=1 A=1\nSTOPSIGNAL --y SIGTERM\n")
    assert [(i.pairs, i.args, i.flags) for i in df.stages[0].instructions] == [
        ([("A", "1")], [], {}), ([], ["SIGTERM"], {})]


def test_forms_of_each_instruction():
    df = parse("""# syntax=docker/dockerfile:1.7
ARG BASE=alpine:3 OTHER
FROM --platform=$BUILDPLATFORM ${BASE} AS Build
RUN echo "$HOME" && \\
    ls
RUN ["ls", "-l"]
RUN [ "broken json" 
CMD echo hi
ENTRYPOINT ["/bin/sh", "-c"]
SHELL ["/bin/bash", "-c"]
ENV A=1 B="two words" C=three\\ words
ENV D old style
LABEL "com.example.a"="x y" b=c
EXPOSE 80/tcp 443 $P
VOLUME ["/data", "/logs"]
VOLUME /a /b
USER 1000:1000
WORKDIR /app/$D
STOPSIGNAL SIGKILL
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=2s --retries=3 CMD ["curl", "-f", "x"]
HEALTHCHECK NONE
ONBUILD COPY . /src
MAINTAINER someone
add --chown=1 a.tar /x/
copy ["a b", "/c d/"]
""")
    assert df.syntax == "docker/dockerfile:1.7" and df.escape == "\\"
    assert df.meta_args == [("BASE", "alpine:3"), ("OTHER", None)]
    st = df.stages[0]
    assert (st.name, st.base, st.platform, st.line) == ("build", "${BASE}", "$BUILDPLATFORM", 3)
    got = [(i.cmd, i.args, i.json, i.pairs) for i in st.instructions]
    assert got == [
        ("RUN", ['echo "$HOME" &&     ls'], False, []),
        ("RUN", ["ls", "-l"], True, []),
        ("RUN", ['[ "broken json"'], False, []),
        ("CMD", ["echo hi"], False, []),
        ("ENTRYPOINT", ["/bin/sh", "-c"], True, []),
        ("SHELL", ["/bin/bash", "-c"], True, []),
        ("ENV", [], False, [("A", "1"), ("B", '"two words"'), ("C", "three\\ words")]),
        ("ENV", [], False, [("D", "old style")]),
        ("LABEL", [], False, [('"com.example.a"', '"x y"'), ("b", "c")]),
        ("EXPOSE", ["$P", "443", "80/tcp"], False, []),
        ("VOLUME", ["/data", "/logs"], True, []),
        ("VOLUME", ["/a", "/b"], False, []),
        ("USER", ["1000:1000"], False, []),
        ("WORKDIR", ["/app/$D"], False, []),
        ("STOPSIGNAL", ["SIGKILL"], False, []),
        ("HEALTHCHECK", ["CMD", "curl", "-f", "x"], True, []),
        ("HEALTHCHECK", ["NONE"], False, []),
        ("ONBUILD", ["COPY . /src"], False, []),
        ("MAINTAINER", ["someone"], False, []),
        ("ADD", ["a.tar", "/x/"], False, []),
        ("COPY", ["a b", "/c d/"], True, []),
    ]
    s = 1_000_000_000
    assert st.instructions[15].health == {"Test": ["CMD", "curl", "-f", "x"], "Interval": 30 * s, "Timeout": 3 * s,
                                          "StartPeriod": 60 * s, "StartInterval": 2 * s, "Retries": 3}
    assert st.instructions[16].health == {"Test": ["NONE"]}
    assert st.instructions[17].trigger.cmd == "COPY" and st.instructions[17].trigger.args == [".", "/src"]
    assert [i.line for i in st.instructions][:4] == [4, 6, 7, 8]
    assert st.instructions[0].original == 'RUN echo "$HOME" &&     ls'


def test_healthcheck_shell_form_and_defaults():
    ins = parse("FROM a\nHEALTHCHECK CMD hello world\n").stages[0].instructions[0]
    assert ins.health == {"Test": ["CMD-SHELL", "hello world"], "Interval": 0, "Timeout": 0, "StartPeriod": 0,
                          "StartInterval": 0, "Retries": 0}
    assert parse("FROM a\nHEALTHCHECK --interval=0ms CMD x").stages[0].instructions[0].health["Interval"] == 0
    assert parse("FROM a\nHEALTHCHECK --interval=1ms CMD x").stages[0].instructions[0].health["Interval"] == 10**6


def test_entrypoint_and_cmd_empty_json():
    df = parse("FROM a\nCMD []\nENTRYPOINT []\n")
    assert [(i.args, i.json) for i in df.stages[0].instructions] == [([], True), ([], True)]


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo `$x\nCOPY a` b c:\\dst\\\n")
    run, copy = df.stages[0].instructions
    assert run.args == ["dir c:\\   && echo `$x"] and run.escape == "`"
    assert copy.args == ["a`", "b", "c:\\dst\\"]  # split on spaces before any escape, as BuildKit
    assert copy.expand({}).args == ["a", "b", "c:\\dst\\"]


def test_directives_only_at_the_top_and_bom():
    df = parse("\ufeff# syntax = x/y\n# escape = `\nFROM a")
    assert (df.syntax, df.escape) == ("x/y", "`")
    df = parse("# comment\n# escape=`\nFROM a\nRUN a \\\n  b")
    assert df.escape == "\\" and df.stages[0].instructions[0].args == ["a   b"]
    err = fault("FROM a\n# escape=`\nRUN a `\n b")
    assert (err.line, err.reason) == (4, "unknown instruction: b")


def test_unknown_directive_ends_directives_and_is_a_comment():
    df = parse("# foo=bar\n# escape=`\nFROM a\n")
    assert df.escape == "\\"


def test_comments_and_empty_lines_inside_continuations():
    df = parse("FROM a\nRUN a \\\n# comment\n\n   b \\\n  # indented\n   c\n")
    assert df.stages[0].instructions[0].args == ["a    b    c"]


def test_continuation_at_eof_and_crlf():
    assert parse("FROM a\r\nRUN x \\\r\n  y\r\n").stages[0].instructions[0].args == ["x   y"]
    assert parse("FROM a\nRUN x \\").stages[0].instructions[0].args == ["x"]


def test_stages_names_lowercased_and_referenced():
    df = parse("FROM a AS One\nFROM b AS two\nFROM one\nCOPY --from=TWO /x /y\nFROM c\nCOPY --from=0 / /\n")
    assert [s.name for s in df.stages] == ["one", "two", None, None]
    assert df.stage_index("ONE") == 0 and df.stage_index("3") == 3 and df.stage_index("nope") is None


# -- expansion where docker does it ----------------------------------------------------------

def test_expand_applies_where_docker_does():
    df = parse("""FROM a
ENV A=$X B="${X}y" C='$X' D=\\$X
LABEL l=$X
ARG G=${X:-d} H
COPY --chown=$U:$U --chmod=$M --from=b $X /dst/$X
ADD --checksum=$S $X /d
WORKDIR /w/${X}
USER $U
VOLUME $X /v
EXPOSE $P 22
STOPSIGNAL $SIG
RUN --mount=type=cache,target=/c/$X echo $X
CMD echo $X
ENTRYPOINT ["$X"]
SHELL ["$X"]
ONBUILD RUN $X
HEALTHCHECK CMD $X
COPY ["$X y", "'$X'", "/d"]
""")
    env = {"X": "x", "U": "1", "M": "600", "S": "sha256:0", "P": "80 81", "SIG": "TERM"}
    got = [i.expand(env) for i in df.stages[0].instructions]
    assert got[0].pairs == [("A", "x"), ("B", "xy"), ("C", "$X"), ("D", "$X")]
    assert got[1].pairs == [("l", "x")]
    assert got[2].pairs == [("G", "x"), ("H", None)]
    assert got[3].args == ["x", "/dst/x"]
    assert got[3].flags == {"chown": ["1:1"], "chmod": ["600"], "from": ["b"]}
    assert got[4].args == ["x", "/d"] and got[4].flags == {"checksum": ["sha256:0"]}
    assert got[5].args == ["/w/x"] and got[6].args == ["1"] and got[7].args == ["x", "/v"]
    assert got[8].args == ["80", "81", "22"]  # sorted as written, then expanded (BuildKit)
    assert got[9].args == ["TERM"]
    assert got[10].flags == {"mount": ["type=cache,target=/c/x"]} and got[10].args == ["echo $X"]
    for i in got[11:16]:
        assert "$X" in i.args[-1] or "$X" in i.args[0]
    assert got[16].args == ["x y", "$X", "/d"]
    assert df.stages[0].instructions[0].pairs[0] == ("A", "$X")  # the parsed one is left as written
    assert df.stages[0].instructions[3].used_vars(env) == {"U", "M", "X"}


def test_expand_copy_heredoc_only_where_unquoted():
    df = parse("FROM a\nCOPY <<A <<'B' /d\n$X \"q\"\nA\n$X\nB\nRUN <<C\n$X\nC\n")
    copy, run = (i.expand({"X": "x"}) for i in df.stages[0].instructions)
    assert [h.content for h in copy.heredocs] == ['x "q"\n', "$X\n"]
    assert run.heredocs[0].content == "$X\n"


def test_expand_error_names_the_line():
    df = parse("FROM a\n\nWORKDIR ${NEED:?must be set}\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:3: .*NEED: must be set"):
        df.stages[0].instructions[0].expand({})


# -- stages, meta args, platform -------------------------------------------------------------

def test_stage_base_from_meta_args_and_build_args():
    df = parse("ARG V=3.19\nARG IMG=alpine:${V}\nARG EMPTY\nFROM ${IMG}\nFROM busybox:$V AS b\nFROM ${EMPTY}\n")
    assert stage_base(df, 0, {}) == "alpine:3.19"
    assert stage_base(df, 0, {"V": "3.20"}) == "alpine:3.20"
    assert stage_base(df, 0, {"IMG": "debian"}) == "debian"
    assert stage_base(df, df.stages[1], {}) == "busybox:3.19"
    with pytest.raises(DockerfileError, match=r"^Dockerfile:6: base name \(\$\{EMPTY\}\) should not be blank$"):
        stage_base(df, 2, {})


def test_platform_args_for_this_machine_in_from():
    p = platform_args()
    assert p["TARGETOS"] == p["BUILDOS"] == "linux"
    assert p["TARGETPLATFORM"] == "linux/" + p["TARGETARCH"] + ("/" + p["TARGETVARIANT"] if p["TARGETVARIANT"] else "")
    assert set(p) == {f"{s}{k}" for s in ("BUILD", "TARGET") for k in ("PLATFORM", "OS", "OSVERSION", "ARCH", "VARIANT")}
    df = parse("FROM --platform=$BUILDPLATFORM img-$TARGETARCH\n")
    assert stage_base(df, 0, {}) == "img-" + p["TARGETARCH"]
    assert dfmod.stage_platform(df, 0, {}) == p["BUILDPLATFORM"]


DEPS = """FROM alpine AS base
RUN true
FROM base AS build
RUN --mount=type=bind,from=tools,target=/t make
FROM busybox AS tools
FROM scratch AS unrelated
FROM debian AS test
COPY --from=build /out /out
COPY --from=nginx:latest /etc/nginx /etc/nginx
FROM scratch
COPY --from=2 /t /t
COPY --from=build /out /
"""


def test_needed_stages_in_dependency_order():
    df = parse(DEPS)
    assert needed_stages(df, None, {}) == [2, 0, 1, 5]
    assert needed_stages(df, "TEST", {}) == [0, 2, 1, 4]
    assert needed_stages(df, "tools", {}) == [2]
    assert needed_stages(df, "base", {}) == [0]
    with pytest.raises(DockerfileError, match='target stage "nope" could not be found'):
        needed_stages(df, "nope", {})


def test_needed_stages_follow_from_through_meta_args():
    df = parse("ARG SRC=one\nFROM alpine AS one\nFROM alpine AS two\nFROM $SRC\n")
    assert needed_stages(df, None, {}) == [0, 2]
    assert needed_stages(df, None, {"SRC": "two"}) == [1, 2]


def test_copy_from_any_stage_but_not_in_a_circle():
    """BuildKit links --from to a stage before or after; it refuses circles and bad indexes."""
    df = parse("FROM a AS first\nCOPY --from=1 / /\nFROM b\n")
    assert needed_stages(df, "first", {}) == [1, 0]
    df = parse("FROM a AS one\nCOPY --from=two / /\nFROM b AS two\nRUN --mount=from=one,target=/x true\n")
    with pytest.raises(DockerfileError, match=r"^Dockerfile:(2|4): circular dependency detected on stage: (one|two)$"):
        needed_stages(df, "two", {})
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: circular dependency detected on stage: stage-0$"):
        needed_stages(parse("FROM a\nCOPY --from=0 / /\n"), None, {})
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: invalid stage index 3$"):
        needed_stages(parse("FROM a\nCOPY --from=3 / /\n"), None, {})
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: variable expansion is not supported for --from"):
        needed_stages(parse("FROM a\nCOPY --from=$X / /\n"), None, {})


def test_parse_onbuild_trigger_as_the_child_build_reads_it():
    ins = parse_onbuild('COPY --chown=1 ["a", "b"]', line=4)
    assert (ins.cmd, ins.args, ins.json, ins.flags, ins.line) == ("COPY", ["a", "b"], True, {"chown": ["1"]}, 4)
    with pytest.raises(DockerfileError, match=r"^Dockerfile:4: unknown flag: --bogus$"):
        parse_onbuild("RUN --bogus x", line=4)
    with pytest.raises(DockerfileError, match="isn't allowed as an ONBUILD trigger"):
        parse_onbuild("FROM x")


def test_onbuild_with_a_bad_trigger_parses_as_docker_does():
    ins = parse("FROM a\nONBUILD RUN --bogus x\n").stages[0].instructions[0]
    assert ins.args == ["RUN --bogus x"] and ins.trigger is None


# -- the shell lexer (shell/lex_test.go, envVarTest, wordsTest) --------------------------------

ENV_VAR_ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def env_var_cases():
    for n, line in enumerate((DATA / "envVarTest").read_text().splitlines(), 1):
        if line.startswith("#") or not line.strip():
            continue
        plat, src, want = (w.strip() for w in line.split("|"))
        if plat in ("A", "U"):
            yield pytest.param(src, want, id=f"line{n}")


@pytest.mark.parametrize("src, want", list(env_var_cases()))
def test_envvartest(src, want):
    lex = Lex("\\")
    if want == "error":
        with pytest.raises(ShellError):
            lex.process_word(src, ENV_VAR_ENV)
    else:
        assert lex.process_word(src, ENV_VAR_ENV) == want


def words_cases():
    env: dict[str, str] = {}
    for n, line in enumerate((DATA / "wordsTest").read_text().splitlines(), 1):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            k, _, v = line[3:].lstrip(" ").partition("=")
            env[k] = v
            continue
        src, want = line.split("|")
        yield pytest.param(src.strip(), want.lstrip(" ").split(","), dict(env), id=f"line{n}")


@pytest.mark.parametrize("src, want, env", list(words_cases()))
def test_wordstest(src, want, env):
    try:
        got = Lex("\\").process_words(src, env)
    except ShellError:
        got = ["error"]
    assert got == want


def test_mandatory_vars():
    lex = Lex("\\")
    for word in ("${VAR:?message here$ARG}", "${VAR?message here$ARG}"):
        assert lex.process_word(word, {"VAR": "plain", "ARG": "x"}) == "plain"
        with pytest.raises(ShellError, match="message herex"):
            lex.process_word(word, {"ARG": "x"})
    with pytest.raises(ShellError, match="message herex"):
        lex.process_word("${VAR:?message here$ARG}", {"VAR": "", "ARG": "x"})
    assert lex.process_word("${VAR?message here$ARG}", {"VAR": "", "ARG": "x"}) == ""


E = None  # an error expected
MATCH_CASES = [
    ("x", {"DUMMY": "dummy"}, "x", set(), set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set(), {"UNUSED"}),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}, set()),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${FOO:-}", {}, "", set(), {"FOO"}),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${BAR?bbb}", {"FOO": "xxx", "BAR": ""}, "", {"BAR"}, set()),
    ("${BAZ?ccc}", {"FOO": "xxx", "BAR": ""}, E, set(), {"BAZ"}),
    ("${FOO:?aaa}", {"FOO": "xxx", "BAR": ""}, "xxx", {"FOO"}, set()),
    ("${BAR:?bbb}", {"FOO": "xxx", "BAR": ""}, E, set(), set()),
    ("${BAZ:?ccc}", {"FOO": "xxx", "BAR": ""}, E, set(), {"BAZ"}),
    ("${BAZ:?}", {"FOO": "xxx", "BAR": ""}, E, set(), {"BAZ"}),
    ("${FOO=aaa}", {"FOO": "xxx", "BAR": ""}, E, set(), set()),
    ("${FOO=:aaa}", {"FOO": "xxx", "BAR": ""}, E, set(), set()),
    ("${FOO=}", {}, E, set(), set()),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}, set()),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}, set()),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}, set()),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}, set()),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}, set()),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}, {"ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}, set()),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO:#}", {}, E, set(), set()),
    ("${FOO:##}", {}, E, set(), set()),
    ("${FOO:%}", {}, E, set(), set()),
    ("${FOO:%%}", {}, E, set(), set()),
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt", {"FOO", "NEEDLE"}, set()),
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt", {"FOO", "NEEDLE"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"}, "/foo/b/c.txt - /foo/c.txt",
     {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT}", {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de", {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}, set()),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}, set()),
    ("${FOO//ww}", {"FOO": "xxyy"}, E, set(), set()),
    ("${FOO//}", {"FOO": "xxyy"}, E, set(), set()),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO///}", {}, "", set(), {"FOO"}),
]


@pytest.mark.parametrize("word, env, want, matched, unmatched", MATCH_CASES)
def test_process_with_matches(word, env, want, matched, unmatched):
    lex = Lex("\\")
    if want is E:
        with pytest.raises(ShellError):
            lex.process(word, env)
        return
    res = lex.process(word, env)
    assert (res.word, res.matched, res.unmatched) == (want, matched, unmatched)


def test_platform_release_name():
    release = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz"
    lex = Lex("\\")
    base = {"VERSION": "v1.2.3", "TARGETOS": "linux"}
    assert lex.process_word(release, {**base, "TARGETARCH": "arm", "TARGETVARIANT": "v7"}) == \
        "something-v1.2.3.linux-arm-v7.tar.gz"
    assert lex.process_word(release, {**base, "TARGETARCH": "arm64", "TARGETVARIANT": ""}) == \
        "something-v1.2.3.linux-arm64.tar.gz"
    assert lex.process_word(release, {**base, "TARGETARCH": "arm64"}) == "something-v1.2.3.linux-arm64.tar.gz"


@pytest.mark.parametrize("pattern, regex", [
    ("*", "^.*"), ("?", "^."), ("\\*", "^\\*"),
])
def test_shell_pattern_to_regex(pattern, regex):
    assert _pattern_regex(pattern, True, True).pattern == regex


def test_shell_pattern_specials_match_literally():
    rx = _pattern_regex("(()[]{\\}^$.\\*\\?|\\\\", True, True)
    assert rx.fullmatch("(()[]{}^$.*?|\\")


@pytest.mark.parametrize("pattern", ["\\", "\\x", "\\\\\\"])
def test_shell_pattern_invalid(pattern):
    with pytest.raises(ShellError):
        _pattern_regex(pattern, True, True)


@pytest.mark.parametrize("pattern, rev", [
    ("a\\*c", "c\\*a"), ("\\\\\\ab", "b\\a\\\\"), ("ab\\", "\\ba"), ("👽\\🚀🖖", "🖖\\🚀👽"), ("\\\\b", "b\\\\"),
])
def test_reverse_pattern(pattern, rev):
    assert _reverse_pattern(pattern) == rev


def test_skip_unset_env_and_raw_quotes():
    lex = Lex("\\", raw_quotes=True, skip_unset_env=True)
    assert lex.process_word("$A ${B} ${C:-x} '$D' \"$E\"", {"E": "e"}) == "$A ${B} ${C:-x} '$D' \"e\""


# -- RUN --mount, --network, --security (instructions/commands_run*.go) ----------------------

from dunnage.builder.dockerfile import Mount, parse_mount  # noqa: E402


def run_ins(text: str):
    return parse("FROM a\n" + text).stages[0].instructions[0]


@pytest.mark.parametrize("spec, want", [
    ("type=cache,target=/root/.cache", Mount(type="cache", target="/root/.cache", readonly=False)),
    ("target=/src", Mount(type="bind", target="/src", readonly=True)),
    ("type=bind,from=build,source=/out,target=/in,rw", Mount(from_="build", source="/out", target="/in", readonly=False)),
    ("type=bind,src=a,dst=/b,readonly=false", Mount(source="a", target="/b", readonly=False)),
    ("type=tmpfs,target=/t,size=64m", Mount(type="tmpfs", target="/t", readonly=False, size=64 << 20)),
    ("type=secret,id=tok,env=TOKEN,required", Mount(type="secret", id="tok", env="TOKEN", required=True)),
    ("type=secret,id=tok,target=/run/secrets/x,mode=0400,uid=1,gid=2",
     Mount(type="secret", id="tok", target="/run/secrets/x", mode=0o400, uid=1, gid=2)),
    ("type=cache,target=/c,id=$ID,sharing=locked,mode=755", Mount(type="cache", target="/c", id="cid", sharing="locked",
                                                                 readonly=False, mode=0o755)),
    ('"type=bind,target=/a b"', Mount(target="/a b")),
    ("type=ssh,required=true", Mount(type="ssh", required=True)),
    ("TYPE=CACHE,Target=/x,ro", Mount(type="cache", target="/x", readonly=True)),
])
def test_mounts(spec, want):
    assert run_ins(f"RUN --mount={spec} true").mounts({"ID": "cid"}) == [want]


@pytest.mark.parametrize("spec, message", [
    ("type=nfs,target=/x", 'unsupported mount type "nfs"'),
    ("type=cache,target=/x,sharing=maybe", 'unsupported sharing value "maybe"'),
    ("type=bind,target=/x,sharing=locked", "invalid cache sharing set for bind mount"),
    ("type=bind,target=/x,mode=0600", 'mode not allowed for "bind" type mounts'),
    ("type=tmpfs,target=/x,uid=1", 'uid not allowed for "tmpfs" type mounts'),
    ("type=bind,target=/x,size=1m", "unexpected key 'size' for mount type 'bind'"),
    ("type=bind,target=/x,required", "unexpected key 'required' for mount type 'bind'"),
    ("type=tmpfs,target=/x,size=huge", "invalid value for size: huge"),
    ("type=bind,target=/x,ro=maybe", "invalid value for ro: maybe"),
    ("type=cache,target=/x,uid=-1", "invalid value -1 for uid"),
    ("type=cache,target=/x,mode=0999", "invalid value 0999 for mode"),
    ("type=bind,target=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
    ("type=bind,target=/x,bogus", "invalid field 'bogus' must be a key=value pair"),
    ("type=secret", "invalid secret mount. one of source, target required"),
    ("type=secret,id=a,source=b", "both source and id can't be set"),
    ("type=secret,id=a,from=b", "secret mount should not have a from"),
    ("type=bind,target=${NOPE:?unset}", "NOPE: unset"),
])
def test_bad_mounts_at_the_step(spec, message):
    ins = run_ins(f"RUN --mount={spec} true")
    with pytest.raises(DockerfileError) as info:
        ins.mounts({})
    assert info.value.line == 2 and message in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("RUN --mount=type=bind,from=$STAGE,target=/x true",
     "'from' doesn't support variable expansion, define alias stage instead"),
    ('RUN --mount=type=bind,\\"target=/x true', "failed to parse csv mounts"),
    ("RUN --network=bridge true", 'invalid network mode "bridge"'),
    ("RUN --security=privileged true", 'security "privileged" is not valid'),
])
def test_run_flags_checked_at_parse_time(text, message):
    assert message in str(fault("FROM a\n" + text))


def test_run_network_and_security_values():
    for net in ("default", "none", "host"):
        assert run_ins(f"RUN --network={net} true").flag("network") == net
    assert run_ins("RUN --security=insecure true").flag("security") == "insecure"
    assert run_ins("RUN true").flag("network", "default") == "default"


def test_parse_mount_at_parse_time_defers_values():
    """Without an env only the CSV and from= are looked at (values may hold variables)."""
    assert parse_mount("type=$T,target=$X,uid=$U", None) == Mount()


def test_a_stage_name_given_twice_means_the_last_as_buildkit():
    df = parse("FROM a AS x\nFROM b AS x\nFROM x\nCOPY --from=x / /\n")
    assert df.stage_index("x") == 1
    assert needed_stages(df, None, {}) == [1, 2]
    assert needed_stages(df, "x", {}) == [1]
    with pytest.raises(DockerfileError, match='target stage "0" could not be found'):
        needed_stages(df, "0", {})


def test_empty_continuation_lines_warned_as_buildkit():
    df = parse("\nFROM alpine:3.6\n\nRUN valid \\\n    continuation\n\nRUN something \\\n\n    following \\\n\n"
               "    more\n\nRUN another \\\n\n    thing\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\n"
               "RUN indented \\\n    # this is an indented comment\n    comment\n\t")
    assert df.warnings == ["Empty continuation line found in: RUN something     following     more",
                           "Empty continuation line found in: RUN another     thing"]


def test_meta_env_as_buildkit_builds_global_args():
    df = parse("ARG A=1\nARG B=${A}2 C\nARG A=3\nARG D=$TARGETSTAGE-$A\nFROM x AS last\n")
    env = dfmod.meta_env(df, {})
    assert (env["A"], env["B"], env["D"]) == ("3", "12", "last-3") and "C" not in env
    env = dfmod.meta_env(df, {"A": "9", "C": "c", "TARGETOS": "plan9", "UNDECLARED": "u"}, target="other")
    assert (env["A"], env["B"], env["C"], env["D"], env["TARGETOS"]) == ("9", "92", "c", "other-9", "plan9")
    assert "UNDECLARED" not in env
    assert dfmod.default_args(parse("FROM x\n"), {})["TARGETSTAGE"] == "default"
    with pytest.raises(DockerfileError, match=r"^Dockerfile:2: .*E: needed"):
        dfmod.meta_env(parse("ARG A\nARG E=${E:?needed}\nFROM x\n"), {})
    manual = dfmod.Dockerfile(stages=df.stages, meta_args=[("Z", "z")])
    assert dfmod.meta_env(manual, {})["Z"] == "z"


def test_whitespace_is_gos():
    """Go's unicode.IsSpace: \\x1c-\\x1f are no spaces there (Python's isspace takes them)."""
    run = parse("FROM a\nRUN \x1cx\x1f \u3000").stages[0].instructions[0]
    assert run.args == ["\x1cx\x1f"]
    assert fault("FROM a\nEXPOSE\u00a080").reason == "unknown instruction: EXPOSE\u00a080"  # [\t\v\f\r ] split it
    assert parse("FROM a\nEXPOSE 80\u00a0").stages[0].instructions[0].args == ["80"]  # TrimSpace takes it
    assert parse("FROM a\nENV A=\x1c").stages[0].instructions[0].pairs == [("A", "\x1c")]


def test_lexer_words_split_on_gos_spaces_only():
    assert Lex("\\").process_words("a\x1cb c\u3000d", {}) == ["a\x1cb", "c", "d"]
    assert Lex("\\").process_word("$A²", {"A": "x"}) == "x²"


# -- instructions/parse_heredoc_test.go ------------------------------------------------------

@pytest.mark.parametrize("text, sources, dest", [
    ("COPY /foo /bar", ["/foo"], "/bar"),
    ("COPY <<EOF /bar\nEOF", [H("EOF", "", True, False)], "/bar"),
    ("COPY <<EOF /bar\nTESTING\nEOF", [H("EOF", "TESTING\n", True, False)], "/bar"),
    ("COPY <<-EOF /bar\n\tTESTING\nEOF", [H("EOF", "TESTING\n", True, True)], "/bar"),
    ("COPY <<'EOF' /bar\nTESTING\nEOF", [H("EOF", "TESTING\n", False, False)], "/bar"),
    ("COPY <<EOF1 <<EOF2 /bar\nthis is the first file\nEOF1\nthis is the second file\nEOF2",
     [H("EOF1", "this is the first file\n", True, False), H("EOF2", "this is the second file\n", True, False)], "/bar"),
    ("COPY <<EOF foo.txt /bar\nthis is inline\nEOF", [H("EOF", "this is inline\n", True, False), "foo.txt"], "/bar"),
    ('COPY <<EOF /quotes\n"quotes"\nEOF', [H("EOF", '"quotes"\n', True, False)], "/quotes"),
])
def test_copy_heredoc(text, sources, dest):
    copy = parse("FROM a\n" + text).stages[0].instructions[0]
    assert (copy.sources, copy.dest) == (sources, dest)


@pytest.mark.parametrize("text, is_json, args, docs", [
    ('RUN ["ls", "/"]', True, ["ls", "/"], []),
    ('RUN ["<<EOF"]', True, ["<<EOF"], []),
    ("RUN ls /", False, ["ls /"], []),
    ("RUN <<EOF\nls /\nwhoami\nEOF", False, ["<<EOF"], [H("EOF", "ls /\nwhoami\n", True, False)]),
    ("RUN <<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF", False, ["<<'EOF' | python"],
     [H("EOF", 'print("hello")\nprint("world")\n', False, False)]),
    ("RUN <<-EOF\n\techo test\nEOF", False, ["<<-EOF"], [H("EOF", "echo test\n", True, True)]),
])
def test_run_heredoc(text, is_json, args, docs):
    run = parse("FROM a\n" + text).stages[0].instructions[0]
    assert (run.json, run.args, run.heredocs) == (is_json, args, docs)


# -- parser/directives_test.go ---------------------------------------------------------------

@pytest.mark.parametrize("text, ref", [
    ("# syntax = dockerfile:experimental // opts\nFROM busybox\n", "dockerfile:experimental"),
    ("#!/bin/sh\n# syntax = dockerfile:experimental\nFROM busybox\n", "dockerfile:experimental"),
    ("FROM busybox\nRUN ls\n", None),
    ("//syntax=foo\n//key=value", "foo"),
    ("#!/bin/sh\n//syntax=x", "x"),
    ('{"syntax": "foo", "bar": ["abc"]}', "foo"),
    ('{"syntax": "foo"', None),
    ('{"syntax": "foo"}\n# syntax=bar', None),
    ("\ufeff# syntax = myfrontend\nFROM busybox\n", "myfrontend"),
    ("# escape=`\n# syntax=a/b:1\nFROM x", "a/b:1"),
    ("# comment\n# syntax=a/b:1\nFROM x", None),
])
def test_detect_syntax(text, ref):
    assert dfmod.detect_syntax(text) == ref


def test_directive_names_any_case_and_unknown_keys_end_them():
    assert parse("# EScape=`\n# KEY = FOO bar\n# smth\nFROM a\nRUN a `\n b").escape == "`"
    assert parse("#escape=\\\n# key = FOO bar\nFROM a\n").escape == "\\"
    assert parse("# syntax = x // opts\nFROM a\n").syntax == "x"
    assert parse("# check = skip=all\n# escape=`\nFROM a\n").escape == "`"


# -- instructions/bflag_test.go (COPY's chown a string flag, link a bool one) -----------------

@pytest.mark.parametrize("given, want", [
    ([], {}), (["--"], {}), (["--", "--bogus"], {}), (["--chown="], {"chown": [""]}), (["--chown=BYE"], {"chown": ["BYE"]}),
    (["--link"], {"link": ["true"]}), (["--link=true"], {"link": ["true"]}), (["--link=false"], {"link": ["false"]}),
    (["--link=TRUE"], {"link": ["true"]}), (["--link", "--chown=BYE"], {"link": ["true"], "chown": ["BYE"]}),
    (["--exclude=a", "--exclude=b"], {"exclude": ["a", "b"]}),
])
def test_builder_flags(given, want):
    assert dfmod._parse_flags("COPY", given) == want


@pytest.mark.parametrize("given, message", [
    (["--chown"], "missing a value on flag: --chown"), (["--link=false1"], "expecting boolean value for flag --link, not: false1"),
    (["--linkx"], "unknown flag: --linkx"), (["-x"], "arg should start with -- : -x"), (["--exclude"], "missing a value on flag: --exclude"),
])
def test_builder_flags_refused(given, message):
    with pytest.raises(dfmod._Fault, match=re.escape(message)):
        dfmod._parse_flags("COPY", given)
