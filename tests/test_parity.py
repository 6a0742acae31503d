"""Docker parity of what a docker user types first, each command on both engines (a
dunnage root and a dockerd of this module's own, Debian's docker.io 20.10): the same
selection, the same refusals in dockerd's words."""
from __future__ import annotations

import json
import re

import pytest

from conftest import cli, wait_for
from peers import Dockerd

IMAGE = "local/busybox:latest"


@pytest.fixture(scope="module")
def dockerd(session_root, tmp_path_factory):
    """A dockerd with the image dunnage has (dunnage save -> docker load)."""
    d = Dockerd()
    try:
        tar = tmp_path_factory.mktemp("parity-images") / "busybox.tar"
        assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
        d.ok("load", "-i", str(tar), timeout=120)
        yield d
    finally:
        d.close()


def same(session_root, dockerd, args: list[str], mine: set[str], ordered: bool = True) -> list[str]:
    """ARGS (a listing with --format) on both engines: the lines of MINE each gives, the same,
    in order if ORDERED."""
    d, u = dockerd(*args), cli(session_root, *args)
    assert d.returncode == 0 and u.returncode == 0, (args, d.stderr, u.stderr)
    got = [x for x in u.stdout.decode().split() if x in mine]
    want = [x for x in d.stdout.decode().split() if x in mine]
    assert (got if ordered else sorted(got)) == (want if ordered else sorted(want)), (args, got, want)
    return got


def same_refusal(session_root, dockerd, args: list[str], status: bool = False) -> None:
    """ARGS refused by both engines, with one line, the same words (each engine's own ids aside);
    with STATUS, the same exit status too."""
    d, u = dockerd(*args), cli(session_root, *args)
    said = re.sub("[0-9a-f]{64}", "ID", d.stderr.decode().strip().removeprefix("Error response from daemon: "))
    assert d.returncode != 0 and u.returncode != 0 and len(u.stderr.splitlines()) == 1, (args, u.stderr)
    assert not status or u.returncode == d.returncode, (args, u.returncode, d.returncode, u.stderr)
    assert re.sub("[0-9a-f]{64}", "ID", u.stderr.decode().strip().removeprefix("dunnage: Error: ")) == said, \
        (args, said, u.stderr)


def test_volume_ls_filters_select_what_dockerd_selects(session_root, engine, dockerd):
    """volume ls -f/--filter dangling, name (a regular expression), label, driver; refusals."""
    names = {"pv-a", "pv-b", "pv-used"}
    setup = (("volume", "create", "--label", "tier=web", "pv-a"), ("volume", "create", "pv-b"),
             ("create", "--name", "pv-c", "-v", "pv-used:/data", IMAGE, "true"))
    try:
        for args in setup:
            assert dockerd(*args).returncode == 0 and cli(session_root, *args).returncode == 0, args
        for q in (["-f", "name=pv-"], ["-f", "name=^pv-a$"], ["--filter", "name=b"], ["-f", "label=tier"],
                  ["-f", "label=tier=web"], ["-f", "label=tier=db"], ["-f", "driver=local"], ["-f", "driver=loc"],
                  ["-f", "dangling=true"], ["-f", "dangling=1"], ["-f", "dangling=false"], ["-f", "dangling=0"],
                  ["-f", "dangling=true", "-f", "name=a"], ["-f", "name=a", "-f", "name=b"]):
            same(session_root, dockerd, ["volume", "ls", *q, "--format", "{{.Name}}"], names)
        assert same(session_root, dockerd, ["volume", "ls", "-f", "dangling=false", "-q"], names) == ["pv-used"]
        for q in (["-f", "bogus=1"], ["-f", "dangling=maybe"]):
            same_refusal(session_root, dockerd, ["volume", "ls", *q], status=True)
    finally:
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            run("rm", "-f", "pv-c")
            run("volume", "rm", *sorted(names))


def test_network_ls_filters_select_what_dockerd_selects(session_root, engine, dockerd):
    """network ls -f/--filter name, id, driver, label, type, scope, dangling (dockerd 20.10's:
    every custom network, a container running on it or not); refusals."""
    names = {"pn-a", "pn-b", "bridge", "host", "none"}
    setup = (("network", "create", "--label", "tier=web", "pn-a"), ("network", "create", "pn-b"),
             ("create", "--name", "pn-c", "--network", "pn-b", IMAGE, "true"),
             ("run", "-d", "--name", "pn-d", "--network", "pn-a", IMAGE, "sleep", "60"))
    try:
        for args in setup:
            assert dockerd(*args).returncode == 0 and cli(session_root, *args).returncode == 0, args
        for q in (["-f", "name=pn-"], ["-f", "name=^pn-a$"], ["--filter", "name=o"], ["-f", "label=tier"],
                  ["-f", "label=tier=web"], ["-f", "driver=bridge"], ["-f", "driver=bri"], ["-f", "type=builtin"],
                  ["-f", "type=custom"], ["-f", "scope=local"], ["-f", "scope=swarm"], ["-f", "dangling=true"],
                  ["-f", "dangling=1"], ["-f", "dangling=false"], ["-f", "type=custom", "-f", "name=b"]):
            same(session_root, dockerd, ["network", "ls", *q, "--format", "{{.Name}}"], names)
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            nid = run("network", "inspect", "-f", "{{.Id}}", "pn-a").stdout.decode().strip()
            r = run("network", "ls", "-f", f"id={nid[:6]}", "--format", "{{.Name}}")
            assert r.returncode == 0 and r.stdout.decode().split() == ["pn-a"], r
        for q in (["-f", "bogus=1"], ["-f", "type=x"], ["-f", "dangling=x"], ["-f", "dangling=1", "-f", "dangling=0"]):
            same_refusal(session_root, dockerd, ["network", "ls", *q], status=True)
    finally:
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            run("rm", "-f", "pn-c", "pn-d")
            run("network", "rm", "pn-a", "pn-b")


def test_images_filters_select_what_dockerd_selects(session_root, engine, dockerd, tmp_path):
    """images -f/--filter (and image ls) dangling, label, before, since, reference (Go's
    path.Match patterns on the name with and without its tag): the same names (the order
    of one image's names is Go's map order in docker's CLI); the same refusals."""
    from dunnage.core.images.demo import busybox_rootfs_tar
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    # (the session's root has other tests' images, dangling ones too: this test's dangling image carries a label
    # of its own, and <none>:<none> lines are compared only where that label selects them)
    names = {IMAGE, "local/pi-a:1", "other/pi-b:2", "local/pi-lab:1"}
    setup = (("tag", IMAGE, "local/pi-a:1"), ("tag", IMAGE, "other/pi-b:2"),
             ("import", "-c", "LABEL tier=web", str(rootfs), "local/pi-lab:1"),
             ("import", "-c", "LABEL pi-dangling=1", str(rootfs)))
    engines = (dockerd, lambda *a: cli(session_root, *a, timeout=120))
    try:
        for args in setup:
            for run in engines:
                assert run(*args).returncode == 0, args
        fmt = ["--format", "{{.Repository}}:{{.Tag}}"]
        for q in (["-f", "reference=local/*"], ["-f", "reference=*box*"], ["-f", "reference=*/pi-*:[0-9]"],
                  ["-f", "reference=pi-a"], ["-f", "reference=local/pi-a"], ["-f", "reference=local/*", "-f", "reference=other/*"],
                  ["-f", "label=tier"], ["-f", "label=tier=web"], ["-f", "label=tier=db"], ["-f", "dangling=true"],
                  ["-f", "dangling=false"], ["-f", "before=local/pi-lab:1"], ["-f", f"since={IMAGE}"],
                  ["-f", "since=local/pi-a:1", "-f", "dangling=false"], ["--filter", "reference=local/pi-a:1"]):
            same(session_root, dockerd, ["images", *q, *fmt], names, ordered=False)
        assert same(session_root, dockerd, ["image", "ls", "-f", "reference=other/*", *fmt], names) == ["other/pi-b:2"]
        assert same(session_root, dockerd, ["images", "-f", "dangling=true", "-f", "label=pi-dangling", *fmt],
                    {"<none>:<none>"}) == ["<none>:<none>"]
        assert same(session_root, dockerd, ["images", "-a", "-f", "label=pi-dangling", *fmt], {"<none>:<none>"}) == \
            ["<none>:<none>"]
        for q in (["-f", "bogus=1"], ["-f", "dangling=x"], ["-f", "before=nothere"], ["-f", "since=nothere:2"]):
            same_refusal(session_root, dockerd, ["images", *q], status=True)
    finally:
        for run in engines:
            run("rmi", "local/pi-a:1", "other/pi-b:2", "local/pi-lab:1")
            ids = run("images", "-q", "-f", "dangling=true", "-f", "label=pi-dangling").stdout.decode().split()
            if ids:
                run("rmi", *ids)


def test_images_repository_argument_is_a_pattern_as_dockerd(session_root, engine, dockerd):
    """images REPOSITORY[:TAG] is one more reference= filter (docker's CLI adds it so): a Go
    path.Match pattern on the familiar name with and without its tag (busy*, local/*,
    NAME:1.*), a name alone matching each of its tags; with -f reference= any of them; a
    malformed pattern refused in dockerd's words and status."""
    names = {IMAGE, "local/pr-a:1", "other/pr-b:2.5", "prtop:1.36", "prtop:latest"}
    engines = (dockerd, lambda *a: cli(session_root, *a))
    try:
        for run in engines:
            for t in sorted(names - {IMAGE}):
                assert run("tag", IMAGE, t).returncode == 0, t
        fmt = ["--format", "{{.Repository}}:{{.Tag}}"]
        for q in (["prtop*"], ["local/*"], ["prtop:1.*"], ["local/pr-?:1"], ["local/[a-o]*"], ["*"], ["*:*"],
                  ["prtop"], ["prtop:latest"], ["local/pr-a:1"], ["local/pr-a"], ["pr-a"], ["library/prtop"],
                  ["other/*:2.?"], ["-f", "reference=other/*", "local/*"], ["-f", "dangling=false", "prtop"]):
            same(session_root, dockerd, ["images", *q, *fmt], names, ordered=False)
        assert same(session_root, dockerd, ["images", "prtop:1.*", *fmt], names) == ["prtop:1.36"]
        assert same(session_root, dockerd, ["image", "ls", "local/pr-*", *fmt], names) == ["local/pr-a:1"]
        for q in (["["], ["local/\\"], ["-f", "reference=["]):
            same_refusal(session_root, dockerd, ["images", *q], status=True)
    finally:
        for run in engines:
            run("rmi", *sorted(names - {IMAGE}))


def test_prune_and_events_filters_refused_as_dockerd(session_root, engine, dockerd):
    """container, image, volume, network and system prune --filter: an unknown key or one that
    prune does not take, a bad or repeated until=, until= with --volumes: refused in dockerd's
    words and exit status, before anything goes; a filter each takes is taken.  events takes
    any key and any type= (dockerd 20.10 selects by neither), and refuses a time that is none
    and a since after until in its words."""
    refusals = [["container", "prune", "-f", "--filter", "nope=1"], ["container", "prune", "-f", "--filter", "until=bad"],
                ["container", "prune", "-f", "--filter", "until=1h", "--filter", "until=2h"],
                ["container", "prune", "-f", "--filter", "dangling=true"], ["container", "prune", "-f", "--filter", "until="],
                ["image", "prune", "-f", "--filter", "nope=1"], ["image", "prune", "-a", "-f", "--filter", "until=bad"],
                ["image", "prune", "-f", "--filter", "label=x", "--filter", "nope=2"],
                ["volume", "prune", "-f", "--filter", "nope=1"], ["volume", "prune", "-f", "--filter", "until=1h"],
                ["volume", "prune", "-f", "--filter", "all=1"], ["volume", "prune", "-f", "--filter", "dangling=true"],
                ["network", "prune", "-f", "--filter", "nope=1"], ["network", "prune", "-f", "--filter", "until=bad"],
                ["system", "prune", "-f", "--filter", "nope=1"], ["system", "prune", "-f", "--filter", "until=bad"],
                ["system", "prune", "-f", "--volumes", "--filter", "until=1h"],
                ["system", "prune", "-f", "--filter", "dangling=true"],
                ["events", "--until", "0s", "--since", "nope"], ["events", "--until", "yesterday"]]
    for args in refusals:
        same_refusal(session_root, dockerd, args, status=True)
    for verb in (["container"], ["image"], ["volume"], ["network"], ["system"]):  # (a flag's error: the CLI's words)
        d, u = dockerd(*verb, "prune", "-f", "--filter", "nope"), cli(session_root, *verb, "prune", "-f", "--filter", "nope")
        assert u.returncode == d.returncode == 125 and b"bad format of filter" in u.stderr, (verb, u.stderr)
    taken = [["container", "prune", "-f", "--filter", "label=pp-none", "--filter", "until=10m"],
             ["container", "prune", "-f", "--filter", "label!=pp-none", "--filter", "label=pp-none=1"],
             ["image", "prune", "-f", "--filter", "label=pp-none", "--filter", "dangling=x"],
             ["image", "prune", "-f", "--filter", "label=pp-none", "--filter", "until=2020-01-01T00:00:00Z"],
             ["volume", "prune", "-f", "--filter", "label=pp-none"], ["network", "prune", "-f", "--filter", "label=pp-none"],
             ["network", "prune", "-f", "--filter", "label=pp-none", "--filter", "until=1h30m"],
             ["system", "prune", "-f", "--filter", "label=pp-none"],
             ["events", "--since", "10m", "--until", "0s", "--filter", "type=bogus"],
             ["events", "--since", "10m", "--until", "0s", "--filter", "foo=bar", "--filter", "type=volume",
              "--filter", "volume=pp-none"]]
    for args in taken:
        d, u = dockerd(*args), cli(session_root, *args)
        assert (u.returncode, u.stdout, u.stderr) == (d.returncode, d.stdout, d.stderr) == (0, d.stdout, b""), \
            (args, u.stdout, u.stderr, d.stdout)
    for run in (dockerd, lambda *a: cli(session_root, *a)):  # (each engine's own past)
        r = run("events", "--since", "10m", "--until", "0s", "--filter", "foo=bar", "--format", "{{.Type}}")
        assert r.returncode == 0 and r.stdout and not r.stderr, r
    args = ["events", "--since", "1m", "--until", "2m"]
    d, u = dockerd(*args), cli(session_root, *args)
    said = d.stderr.decode().strip().removeprefix("Error response from daemon: ")
    assert said.startswith("`since` time (") and u.returncode == d.returncode == 1, (said, u.stderr)
    assert re.sub("[0-9]+", "N", u.stderr.decode().strip().removeprefix("dunnage: Error: ")) == \
        re.sub("[0-9]+", "N", said), (said, u.stderr)


def test_events_until_without_since_reads_the_past(session_root, engine, dockerd):
    """events --until without --since: the past events before it (dockerd's last 256), then
    it leaves, as dockerd (dunnage read only what came after the command).  (until=0s is
    now's whole second, as docker's CLI sends it: the events are made in an earlier one.)"""
    import time
    engines = (dockerd, lambda *a: cli(session_root, *a))
    try:
        for run in engines:
            assert run("volume", "create", "pe-past").returncode == 0
        made = int(time.time())
        wait_for(lambda: int(time.time()) > made, timeout=5)
        args = ["events", "--until", "0s", "--filter", "volume=pe-past", "--format", "{{.Type}} {{.Action}}"]
        d, u = dockerd(*args), cli(session_root, *args)
        assert (u.returncode, u.stdout, u.stderr) == (d.returncode, d.stdout, d.stderr) == (0, b"volume create\n", b"")
    finally:
        for run in engines:
            run("volume", "rm", "pe-past")


def test_prune_and_events_refusals_over_the_engine_api(session_root, engine, dockerd):
    """POST /containers|images|volumes|networks/prune and GET /events with filters dockerd
    refuses: the same status (400 for a key, 500 for an until= that is no time, as dockerd's
    plain error) and message, from dunnage's service as from dockerd; events take any key."""
    from urllib.parse import quote
    from test_api import request, running_service
    asks = [("POST", "/containers/prune", {"nope": ["1"]}), ("POST", "/containers/prune", {"until": ["bad"]}),
            ("POST", "/containers/prune", {"until": ["1h", "2h"]}), ("POST", "/images/prune", {"nope": ["1"]}),
            ("POST", "/images/prune", {"dangling": ["x"]}), ("POST", "/images/prune", {"until": ["bad"]}),
            ("POST", "/volumes/prune", {"nope": ["1"]}), ("POST", "/volumes/prune", {"until": ["1h"]}),
            ("POST", "/networks/prune", {"nope": ["1"]}), ("POST", "/networks/prune", {"until": ["bad"]}),
            ("POST", "/networks/prune", {"label": ["pp-none"], "until": ["1h"]}),
            ("GET", "/events?since=1&until=2&", {"nope": ["1"], "type": ["bogus"]}),
            ("GET", "/events?since=2&until=1&", {}), ("GET", "/events?since=nope&", {}),
            ("GET", "/events?since=1.x&until=2&", {}), ("GET", "/events?since=1&until=10m&", {})]
    with running_service(session_root, "parity.sock") as sock:
        for method, path, filters in asks:
            url = path + ("&" if "?" in path else "?") + "filters=" + quote(json.dumps(filters))
            got, want = request(sock, method, url), request(str(dockerd.sock), method, url)
            assert got == want, (method, url, got, want)


def test_system_prune_asks_naming_the_filters_as_dockerd(session_root, engine, dockerd):
    """system prune --filter without -f: the question lists the filters (label, label!, until,
    sorted) as docker's CLI does; answered no, nothing goes."""
    args = ["system", "prune", "--filter", "until=10m", "--filter", "label=pp-none", "--filter", "label!=a=b"]
    d, u = dockerd(*args, input=b"n\n"), cli(session_root, *args, input=b"n\n")
    assert (u.returncode, u.stdout.decode(), u.stderr) == (d.returncode, d.stdout.decode(), d.stderr) == \
        (0, d.stdout.decode(), b""), (u.stdout, d.stdout)
    assert b"filtered with:\n  - label!=a=b\n  - label=pp-none\n  - until=10m\n" in u.stdout


def test_prune_events_as_dockerd(session_root, engine, dockerd):
    """Each prune says so in the events: a prune event of its type with no actor and what it
    reclaimed (a network prune 0), and a destroy event for each network it removed, as dockerd."""
    import time
    engines = {"dockerd": dockerd, "dunnage": lambda *a: cli(session_root, *a)}
    got = {}
    try:
        for label, run in engines.items():
            assert run("network", "create", "--label", "pe=1", "pe-net").returncode == 0
            made = time.time()
            wait_for(lambda: time.time() >= int(made) + 1, timeout=5)  # (since= and until= are whole seconds)
            since = str(int(time.time()))
            for args in (["container", "prune", "-f", "--filter", "label=pe-none"], ["network", "prune", "-f", "--filter", "label=pe=1"],
                         ["image", "prune", "-f", "--filter", "label=pe-none"],
                         ["volume", "prune", "-f", "--filter", "label=pe-none"]):
                assert run(*args).returncode == 0, (label, args)
            done = time.time()
            wait_for(lambda: time.time() >= int(done) + 1, timeout=5)
            docs = []
            for q in (["--filter", "event=prune"], ["--filter", "event=destroy", "--filter", "network=pe-net"]):
                r = run("events", "--since", since, "--until", "0s", *q, "--format", "{{json .}}")
                assert r.returncode == 0, (label, r.stderr)
                docs += [json.loads(x) for x in r.stdout.decode().splitlines()]
            for d in docs:
                d.pop("time"), d.pop("timeNano")
                d["Actor"]["ID"] = d["Actor"]["ID"] and "ID"
            got[label] = docs
        assert got["dunnage"] == got["dockerd"], got
        assert [d["Action"] for d in got["dunnage"]] == ["prune"] * 4 + ["destroy"]
    finally:
        for run in engines.values():
            run("network", "rm", "pe-net")


def test_prune_filters_select_what_dockerd_selects(session_root, engine, dockerd, tmp_path):
    """container, network and image prune --filter label=, label!=, until= (a Go duration, an
    RFC 3339 time): the same things go as on dockerd, and only those."""
    import datetime as dt
    from dunnage.core.images.demo import busybox_rootfs_tar
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(busybox_rootfs_tar())
    names = {"pp-a", "pp-b", "pp-c"}
    setup = (("create", "--name", "pp-a", "--label", "pp=1", "--label", "keep=1", IMAGE, "true"),
             ("create", "--name", "pp-b", "--label", "pp=1", "--label", "tier=x", IMAGE, "true"),
             ("create", "--name", "pp-c", "--label", "pp=1", IMAGE, "true"),
             ("network", "create", "--label", "pp=1", "pp-net"),
             ("import", "-c", "LABEL pp-img=1", str(rootfs)), ("import", "-c", "LABEL pp-img=1", str(rootfs)))
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    steps = (["container", "prune", "-f", "--filter", "label=pp=1", "--filter", "label=tier=x"],
             ["container", "prune", "-f", "--filter", "label=pp=1", "--filter", "until=1h"],
             ["container", "prune", "-f", "--filter", "label=pp=1", "--filter", "label!=keep"],
             ["container", "prune", "-f", "--filter", "label=pp=1", "--filter", f"until={future}"],
             ["network", "prune", "-f", "--filter", "label=pp=1", "--filter", "until=1h"],
             ["network", "prune", "-f", "--filter", "label=pp=2"],
             ["network", "prune", "-f", "--filter", "label=pp=1", "--filter", "until=-1m"],
             ["image", "prune", "-f", "--filter", "label=pp-img=1", "--filter", "until=1h"],
             ["image", "prune", "-f", "--filter", "label!=pp-img", "--filter", "label=pp-img"],
             ["image", "prune", "-f", "--filter", "label=pp-img=1"])
    engines = {"dockerd": dockerd, "dunnage": lambda *a: cli(session_root, *a, timeout=120)}
    try:
        seen = {}
        for label, run in engines.items():
            for args in setup:
                assert run(*args).returncode == 0, (label, args)
            seen[label] = []
            for args in steps:
                r = run(*args)
                assert r.returncode == 0, (label, args, r.stderr)
                left = run("ps", "-a", "--format", "{{.Names}}").stdout.decode().split()
                nets = run("network", "ls", "--format", "{{.Name}}").stdout.decode().split()
                imgs = run("images", "-q", "-f", "label=pp-img").stdout.decode().split()
                seen[label].append((sorted(names & set(left)), "pp-net" in nets, len(imgs)))
        assert seen["dunnage"] == seen["dockerd"], seen
        assert seen["dunnage"][0][0] == ["pp-a", "pp-c"] and seen["dunnage"][-1] == ([], False, 0)
    finally:
        for run in engines.values():
            run("rm", "-f", *names)
            run("network", "rm", "pp-net")
            ids = run("images", "-q", "-f", "label=pp-img").stdout.decode().split()
            if ids:
                run("rmi", *ids)


def test_update_restart_changes_the_policy_live(session_root, engine, dockerd):
    """update --restart on a running container: the new policy is in its HostConfig and
    acts at its next exit (on-failure:1: one restart, then it stays exited), as dockerd's;
    a created container's policy changes too; dockerd's refusals, in its words."""
    script = "while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 3"
    engines = (dockerd, lambda *a: cli(session_root, *a))
    try:
        for run in engines:
            assert run("run", "-d", "--name", "pu-a", IMAGE, "sh", "-c", script).returncode == 0
            assert run("create", "--name", "pu-b", IMAGE, "true").returncode == 0
            assert run("create", "--rm", "--name", "pu-c", IMAGE, "true").returncode == 0
            assert run("update", "--restart", "on-failure:1", "pu-a").returncode == 0
            assert run("update", "--restart", "unless-stopped", "pu-b").returncode == 0
            assert run("exec", "pu-a", "touch", "/tmp/go").returncode == 0
        for run in engines:
            assert wait_for(lambda: run("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", "pu-a")
                            .stdout.decode().split() == ["exited", "1"], timeout=30)
        fmt = "{{json .HostConfig.RestartPolicy}}"
        for name in ("pu-a", "pu-b"):
            d, u = dockerd("inspect", "-f", fmt, name), cli(session_root, "inspect", "-f", fmt, name)
            assert json.loads(u.stdout) == json.loads(d.stdout), name
        for args in (["--restart", "on-failure:x", "pu-b"], ["--restart", "bogus", "pu-b"],
                     ["--restart", "always:2", "pu-b"], ["--restart", "always", "pu-c"]):
            same_refusal(session_root, dockerd, ["update", *args])
    finally:
        for run in engines:
            run("rm", "-f", "pu-a", "pu-b", "pu-c")


def test_logs_details_as_dockerd(session_root, engine, dockerd):
    """logs --details: each line after the attributes --log-opt labels=, env=, labels-regex=,
    env-regex= name (by key, query-escaped, with commas), then a space; with none, the
    space alone; the same bytes as dockerd's."""
    runs = {"pl-plain": [], "pl-attrs": ["--label", "a=1", "--label", "b=x y&z", "--label", "zz=no", "-e", "E1=v/1",
                                        "-e", "ENV_X=2", "--log-opt", "labels=a,b,missing", "--log-opt", "env=E1,NOPE",
                                        "--log-opt", "env-regex=^ENV_"]}
    engines = (dockerd, lambda *a: cli(session_root, *a))
    try:
        for name, flags in runs.items():
            for run in engines:
                r = run("run", "--name", name, *flags, IMAGE, "sh", "-c", "echo one; echo two >&2; echo three")
                assert r.returncode == 0, r.stderr
            for args in (["--details"], ["--details", "--follow"]):
                d, u = dockerd("logs", *args, name), cli(session_root, "logs", *args, name)
                assert d.returncode == 0 and u.returncode == 0, u.stderr
                assert (u.stdout, u.stderr) == (d.stdout, d.stderr), (name, args, u.stdout, d.stdout)
        assert cli(session_root, "logs", "--details", "pl-attrs").stdout.startswith(b"E1=v%2F1,ENV_X=2,a=1,b=x+y%26z one\n")
    finally:
        for run in engines:
            run("rm", "-f", *runs)


def test_ps_size_and_inspect_size_as_dockerd(session_root, engine, dockerd):
    """ps -s/--size (the SIZE column, "RW (virtual ROOTFS)"; a --format with .Size asks for
    it too) and inspect --size (SizeRw, SizeRootFs): what the container wrote, each inode
    once (a hard link is no second file), as dockerd counts its layers, and that with the
    image's; the same figures as dockerd's."""
    write = "head -c 5000 /dev/zero > /five-k && ln /five-k /link && echo hi > /hi && mkdir /d && rm /bin/true"
    runs = (("run", "--name", "ps-wrote", IMAGE, "sh", "-c", write),
            ("create", "--name", "ps-fresh", IMAGE, "true"),
            ("run", "-d", "--name", "ps-live", IMAGE, "sh", "-c", write + " && sleep 60"))
    names = {"ps-wrote", "ps-fresh", "ps-live"}
    engines = (dockerd, lambda *a: cli(session_root, *a))
    try:
        for run in engines:
            for args in runs:
                assert run(*args).returncode == 0, args
            assert wait_for(lambda: run("exec", "ps-live", "test", "-e", "/hi").returncode == 0, timeout=20)
        lines = {}
        for label, run in (("dockerd", dockerd), ("dunnage", lambda *a: cli(session_root, *a))):
            r = run("ps", "-a", "--format", "{{.Names}}|{{.Size}}")
            got = sorted(x for x in r.stdout.decode().splitlines() if x.split("|")[0] in names)
            t = run("ps", "-a", "-s", "--format", "table {{.Names}}\t{{.Size}}")
            table = [x.rstrip() for x in t.stdout.decode().splitlines()]
            d = run("ps", "-a", "--size")
            assert r.returncode == t.returncode == d.returncode == 0, (label, r.stderr, t.stderr, d.stderr)
            assert d.stdout.decode().splitlines()[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED",
                                                                 "STATUS", "PORTS", "NAMES", "SIZE"], label
            docs = {n: json.loads(run("inspect", "--size", n).stdout)[0] for n in names}
            plain = json.loads(run("inspect", "ps-wrote").stdout)[0]
            lines[label] = (got, table[0], sorted(x for x in table if x.split()[0] in names),
                            {n: (doc["SizeRw"], doc["SizeRootFs"]) for n, doc in docs.items()},
                            [k for k in docs["ps-wrote"] if k.startswith("Size") or k in ("GraphDriver", "Mounts")],
                            "SizeRw" in plain)
        assert lines["dunnage"] == lines["dockerd"], lines
        assert lines["dunnage"][3]["ps-wrote"][0] == 5003 and lines["dunnage"][3]["ps-fresh"][0] == 0
    finally:
        for run in engines:
            run("rm", "-f", *names)


def test_host_and_none_networks_as_dockerd(session_root, engine, dockerd):
    """The pre-defined host and none networks: listed with an id and their drivers (host,
    null), inspected with dockerd's fields, a container on them a member while it runs;
    never removed."""
    fmt = "{{.Name}} {{.Driver}} {{.Scope}} {{.EnableIPv6}} {{json .IPAM}} {{.Internal}} {{.Attachable}} " \
          "{{json .Options}} {{json .Labels}} {{len .Containers}}"
    try:
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            assert run("run", "-d", "--name", "pn-host", "--network", "host", IMAGE, "sleep", "60").returncode == 0
        d = dockerd("network", "inspect", "host", "none", "-f", fmt)
        u = cli(session_root, "network", "inspect", "host", "none", "-f", fmt)
        assert d.returncode == 0 and u.stdout.decode() == d.stdout.decode(), (u.stdout, d.stdout, u.stderr)
        assert u.stdout.decode().splitlines()[0].endswith(" 1")
        line = "{{.Name}} {{.Driver}} {{.Scope}} {{len .ID}}"
        want = [x for x in dockerd("network", "ls", "--format", line).stdout.decode().splitlines()
                if x.split()[0] in ("host", "none")]
        assert [x for x in cli(session_root, "network", "ls", "--format", line).stdout.decode().splitlines()
                if x.split()[0] in ("host", "none")] == want == ["host host local 12", "none null local 12"]
        for n in ("host", "none"):
            same_refusal(session_root, dockerd, ["network", "rm", n])
    finally:
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            run("rm", "-f", "pn-host")
