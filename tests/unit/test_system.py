"""docker's small formats (sizes, Go's quoting, ps's COMMAND and MOUNTS columns) and
commit's --pause flag: pure, as any user (the real ones: tests/test_system.py)."""
from __future__ import annotations

from conftest import cli

from dunnage.core.system import ps_command
from dunnage.tui.rows import ellipsis, go_quote, human_size, ps_mounts


def test_docker_formats_of_sizes_quotes_and_commands():
    assert [human_size(n) for n in (0, 999, 1000, 4210688, 45056, 12345678901)] == \
        ["0B", "999B", "1kB", "4.211MB", "45.06kB", "12.35GB"]
    assert go_quote('a "b"\\\t\x01\x7fé') == '"a \\"b\\"\\\\\\t\\x01\\x7fé"'
    assert ellipsis("nginx -g 'daemon off;'", 20) == "nginx -g 'daemon of…"
    assert ellipsis("short", 20) == "short" and ellipsis("日本語のテキスト", 7) == "日本語…"
    assert ps_command(["nginx", "-g", "daemon off;"]) == "nginx -g 'daemon off;'"
    assert go_quote(ellipsis(ps_command(["nginx", "-g", "daemon off;"]), 20)) == '"nginx -g \'daemon of…"'
    assert ps_mounts([{"Name": "averyveryverylongname", "Driver": "local"}, {"Source": "/h", "Driver": ""}],
                     True) == ("averyveryveryl…,/h", "1")


def test_commit_pause_is_a_go_bool_flag():
    from dunnage.tui.cli import build_parser
    ap = build_parser()
    parse = lambda *a: ap.parse_args(["commit", *a, "c"]).pause  # noqa: E731
    assert parse() is True and parse("-p") is True and parse("--pause") is True
    assert parse("--pause=false") is False and parse("-p=0") is False and parse("--pause=False") is False
    assert parse("--pause=true") is True and parse("--pause=1") is True
    p = cli("/nonexistent-root", "commit", "--pause=maybe", "c")
    assert p.returncode == 125 and len(p.stderr.splitlines()) == 1 and b"maybe" in p.stderr


def test_version_is_laid_out_as_dockers_cli_does():
    """docker version's layout (its tabwriter: cells of at least 20 columns), over a
    document of docker's field names; --format sees the same document."""
    from dunnage.tui.commands.system import version_document, version_text
    d = version_document()
    assert set(d) == {"Client", "Server"} and d["Client"]["ApiVersion"] == d["Server"]["ApiVersion"] == "1.41"
    d["Client"].update(Version="9.9", GoVersion="python3.11.2", Arch="amd64")
    d["Server"]["Components"][0].update(Version="9.9")
    d["Server"]["Components"][0]["Details"].update(GoVersion="python3.11.2", Arch="amd64")
    lines = version_text(d).splitlines()
    assert lines[:4] == ["Client: dunnage", " Version:           9.9", " API version:       1.41",
                         " Go version:        python3.11.2"]
    assert " OS/Arch:           linux/amd64" in lines and " Experimental:      true" in lines
    assert lines[lines.index("Server: dunnage"):][:4] == [
        "Server: dunnage", " Engine:", "  Version:          9.9", "  API version:      1.41 (minimum version 1.12)"]
