""".dockerignore patterns (builder/ignore.py), held to moby/patternmatcher's tests
(patternmatcher_test.go: its match, filepath.Match and compile cases; ignorefile_test.go)
ported as data.  Pure: no root."""
from __future__ import annotations

import pytest

from dunnage.builder.ignore import Matcher, PatternError, go_clean, ignore_file, load, read_patterns
from dunnage.core.errors import InvalidParameter

MATCHES = [
    ("**", "file", True), ("**", "file/", True), ("**/", "file", True), ("**/", "file/", True), ("**", "/", True),
    ("**/", "/", True), ("**", "dir/file", True), ("**/", "dir/file", True), ("**", "dir/file/", True),
    ("**/", "dir/file/", True), ("**/**", "dir/file", True), ("**/**", "dir/file/", True), ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True), ("dir/**", "dir/dir2/file", True), ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True), ("**/dir", "dir/file", True), ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True), ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True), ("**file", "file", True), ("**file", "dir/file", True),
    ("**/file", "dir/file", True), ("**file", "dir/dir/file", True), ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True), ("**/file*", "dir/dir/file.txt", True), ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True), ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True), ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True), ("**/**/*.txt", "file.txt", True), ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True), ("a**/*.txt", "a/dir/dir/file.txt", True), ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True), ("a/*.txt**", "a/file.txt", True), ("a[b-d]e", "ae", False), ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False), ("a[^b-d]e", "aze", True), (".*", ".foo", True), (".*", "foo", False),
    ("abc.def", "abcdef", False), ("abc.def", "abc.def", True), ("abc.def", "abcZdef", False), ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False), ("a\\\\", "a\\", True), ("**/foo/bar", "foo/bar", True), ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True), ("abc/**", "abc", False), ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True), ("**/.foo", ".foo", True), ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True), ("a(b)c/def", "a(b)c/xyz", False), ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
     True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\*b", "a*b", True),
]
MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"],
     "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["*.go"], "fileutils.go", True), (["*"], "fileutils.go", True),
    (["!fileutils.go", "*.go"], "fileutils.go", True), (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False), (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False), (["*.go"], ".", False), ([], "/any/path/there", False),
]
CASES = [([p], t, want) for p, t, want in MATCHES] + MULTI


@pytest.mark.parametrize("patterns, path, want", CASES)
def test_matches_or_parent_matches(patterns, path, want):
    assert Matcher(patterns).matches(path) is want


def walk_match(m: Matcher, path: str) -> bool:
    """As a walk asks: each parent directory first, its answer passed down."""
    parent = go_clean(path).rsplit("/", 1)[0] if "/" in go_clean(path) else "."
    info = None
    if parent != ".":
        parts = parent.split("/")
        for i in range(len(parts)):
            _, info = m.matches_with_parent("/".join(parts[:i + 1]), info)
    return m.matches_with_parent(go_clean(path), info)[0]


@pytest.mark.parametrize("patterns, path, want", [c for c in CASES if c[1] != "."])
def test_matches_using_parent_results(patterns, path, want):
    m = Matcher(patterns)
    assert walk_match(m, path) is want
    assert m.matches_with_parent(go_clean(path), None)[0] is want  # no context: as matches()


FILEPATH_MATCH = [
    ("abc", "abc", True), ("*", "abc", True), ("*c", "abc", True), ("a*", "a", True), ("a*", "abc", True),
    ("a*", "ab/c", True), ("a*/b", "abc/b", True), ("a*/b", "a/c/b", False), ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True), ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False), ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False), ("ab[c]", "abc", True), ("ab[b-d]", "abc", True), ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False), ("ab[^b-d]", "abc", False), ("ab[^e-g]", "abc", True), ("a\\*b", "a*b", True),
    ("a\\*b", "ab", False), ("a?b", "a☺b", True), ("a[^a]b", "a☺b", True), ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False), ("[a-ζ]*", "α", True), ("*[a-ζ]", "A", False), ("a?b", "a/b", False),
    ("a*b", "a/b", False), ("[\\]a]", "]", True), ("[\\-]", "-", True), ("[x\\-]", "x", True), ("[x\\-]", "-", True),
    ("[x\\-]", "z", False), ("[\\-x]", "x", True), ("[\\-x]", "-", True), ("[\\-x]", "a", False), ("*x", "xxx", True),
]
BAD = ["[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[", "[^", "[^bc", "a[", "!"]


@pytest.mark.parametrize("pattern, path, want", FILEPATH_MATCH)
def test_filepath_match_cases(pattern, path, want):
    assert Matcher([pattern]).matches(path) is want


@pytest.mark.parametrize("pattern", BAD)
def test_malformed_patterns_refused(pattern):
    with pytest.raises(PatternError) as info:
        Matcher(["ok", pattern])
    assert isinstance(info.value, InvalidParameter)


def test_bad_range_refused_when_matching():
    """[Local-Only] passes Go's filepath.Match check; its regex does not compile: an error at
    the first match, every time (patternmatcher's regression test)."""
    m = Matcher(["[Local-Only]/"])
    for _ in range(2):
        with pytest.raises(PatternError):
            m.matches("x")


@pytest.mark.parametrize("pattern, kind, regex", [
    ("*", "regexp", "^[^/]*$"), ("file*", "regexp", "^file[^/]*$"), ("*file", "regexp", "^[^/]*file$"),
    ("a*/b", "regexp", "^a[^/]*/b$"), ("**", "suffix", None), ("**/**", "regexp", "^(.*/)?.*$"),
    ("dir/**", "prefix", None), ("**/dir", "suffix", None), ("**/dir2/*", "regexp", "^(.*/)?dir2/[^/]*$"),
    ("**/dir2/**", "regexp", "^(.*/)?dir2/.*$"), ("**file", "suffix", None),
    ("**/file*txt", "regexp", "^(.*/)?file[^/]*txt$"), ("**/**/*.txt", "regexp", "^(.*/)?(.*/)?[^/]*\\.txt$"),
    ("a[b-d]e", "regexp", "^a[b-d]e$"), (".*", "regexp", "^\\.[^/]*$"), ("abc.def", "exact", None),
    ("abc?def", "regexp", "^abc[^/]def$"), ("**/foo/bar", "suffix", None), ("a(b)c/def", "exact", None),
    ("a.|)$(}+{bc", "exact", None), ("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "exact", None),
])
def test_compile(pattern, kind, regex):
    p = Matcher([pattern]).patterns[0]
    p.compile()
    assert p.kind == kind
    if regex is not None:
        assert p.regex.pattern == regex


def test_patterns_cleaned_trimmed_and_exclusions_noted():
    m = Matcher(["docs", "config", "", "  !docs/README.md  ", "a/./b/../c/"])
    assert [repr(p) for p in m.patterns] == ["docs", "config", "!docs/README.md", "a/c"]
    assert m.exclusions and not Matcher(["docs"]).exclusions


def test_read_patterns_as_ignorefile_reads_them():
    text = "\ufefftest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! "
    assert read_patterns(text) == ["test1", "test2", "a/file/here", "lastfile", "!inverted/abs/path", "!", "!"]
    assert read_patterns("") == []
    assert read_patterns("  # not a comment: spaces first\n./x/../y/\r\n/\n") == ["# not a comment: spaces first", "y", "/"]
    with pytest.raises(PatternError, match='illegal exclusion pattern: "!"'):
        Matcher(read_patterns("a\n!\n"))


@pytest.mark.parametrize("path, clean", [
    ("", "."), ("a/b/", "a/b"), ("a//b", "a/b"), ("./a", "a"), ("a/../..", ".."), ("/../a", "/a"), ("//a", "/a"),
    ("///a//b/./c/..", "/a/b"), ("..", ".."), ("/", "/"),
])
def test_go_clean(path, clean):
    assert go_clean(path) == clean


def test_exclusions_below_an_excluded_directory():
    m = Matcher(["build", "!build/keep", "*.log", "!important.log"])
    assert m.matches("build/x") and not m.matches("build/keep") and not m.matches("build/keep/deep")
    assert m.matches("a.log") and not m.matches("important.log") and not m.matches("src/a.log")
    assert m.may_include_below("build") and not m.may_include_below("other")
    assert not Matcher(["build"]).may_include_below("build")
    assert Matcher(["build", "!**/keep"]).may_include_below("anything")


def test_ignore_file_beside_the_dockerfile_wins(tmp_path):
    (tmp_path / ".dockerignore").write_text("*.tmp\n")
    (tmp_path / "sub").mkdir()
    df = tmp_path / "sub" / "app.Dockerfile"
    df.write_text("FROM scratch\n")
    assert ignore_file(tmp_path, df) == tmp_path / ".dockerignore"
    assert load(tmp_path, df).matches("x.tmp")
    (tmp_path / "sub" / "app.Dockerfile.dockerignore").write_text("*.bin\n")
    assert ignore_file(tmp_path, df) == tmp_path / "sub" / "app.Dockerfile.dockerignore"
    m = load(tmp_path, df)
    assert m.matches("x.bin") and not m.matches("x.tmp")
    assert ignore_file(tmp_path / "sub") is None and not load(tmp_path / "sub")


def test_patterns_trimmed_of_gos_spaces_only():
    assert read_patterns("a\x1c\r\n\u3000b\n") == ["a\x1c", "b"]
    assert Matcher(["x\x1f"]).matches("x\x1f") and not Matcher(["x\x1f"]).matches("x")
