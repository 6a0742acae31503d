"""--format through the command line on a real container: inspect -f and ps --format run
Go's text/template with docker's functions (the language itself: tests/unit/test_template.py)."""
from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def labelled(run_cli, image):
    r = run_cli("run", "-d", "--name", "tmpl", "--network", "none", "-l", "zeta=1", "-l", "alpha=2",
                image, "sleep", "60")
    assert r.returncode == 0, r.stderr
    return r.stdout.decode().strip()


def test_inspect_format_runs_the_template_language(run_cli, labelled):
    r = run_cli("inspect", "-f", "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", "tmpl")
    assert (r.returncode, r.stdout) == (0, b"alpha=2;zeta=1;\n"), r.stderr
    r = run_cli("inspect", "-f", "{{index .Config.Cmd 0}} {{len .Config.Cmd}} {{.Nope}}", "tmpl")
    assert r.stdout == b"sleep 2 <no value>\n", r.stderr
    state = json.loads(run_cli("inspect", "-f", "{{json .State}}", "tmpl").stdout)
    assert state["Running"] is True and state["Pid"] > 0
    r = run_cli("inspect", "-f", "{{if .State.Running}}up{{else}}down{{end}} {{.State.Pid | printf \"%T\"}}", "tmpl")
    assert r.stdout == b"up int\n"


def test_ps_table_format_and_label_method(run_cli, labelled):
    r = run_cli("ps", "--format", "table {{.Names}}\\t{{.Label \"alpha\"}}\\t{{.Status}}")
    lines = r.stdout.decode().splitlines()
    assert lines[0].startswith("NAMES     ")  # the header, at tabwriter's minimum width of 10
    row = [ln for ln in lines if ln.startswith("tmpl ")]
    assert row and row[0].split(None, 2)[:2] == ["tmpl", "2"]
    assert row[0][len(lines[0])] == "2"  # the header stops at .Label "x" as docker's does; columns still align
    r = run_cli("ps", "--format", "{{.Names}}:{{.Label \"zeta\"}}")
    assert "tmpl:1" in r.stdout.decode().splitlines()


@pytest.mark.parametrize("args, msg", [
    (("ps", "--format", "{{foo .Names}}"), b'function "foo" not defined'),
    (("ps", "--format", "{{.Names"), b"unclosed action"),
    (("ps", "--format", "{{.Nope}}"), b"can't evaluate field Nope"),
    (("inspect", "-f", "{{index .Config.Cmd 9}}", "tmpl"), b"index out of range: 9"),
])
def test_a_bad_format_is_one_line_and_exit_125(run_cli, labelled, args, msg):
    r = run_cli(*args)
    assert r.returncode == 125
    assert r.stdout == b""
    assert len(r.stderr.splitlines()) == 1 and msg in r.stderr and b"Traceback" not in r.stderr
