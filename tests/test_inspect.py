"""inspect, ps and the container's root compared with a real dockerd (Debian's
docker.io, 20.10) running the same image with the same flags on this machine.

The documents must have the same keys, recursively, and the same values, except
what the lists below name, each with the reason."""
from __future__ import annotations

import copy
import fnmatch
import json
import re
import time

import pytest

from conftest import cli, wait_for
from peers import Dockerd

IMAGE = "local/busybox:latest"

# values that name one engine's own things: ids, times, pids, addresses, the paths
# of its directories; the keys must still be there on both sides
OWN_VALUES = [
    "Id", "Created", "State/Pid", "State/StartedAt", "State/FinishedAt",
    "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath",
    "Config/Hostname",  # the id's first 12 characters
    "GraphDriver/Data/*",
    "Mounts/*/Source",  # a named volume's directory in each engine's data root
    "NetworkSettings/Bridge",  # the default bridge's name, given only with --network bridge
    "NetworkSettings/SandboxID", "NetworkSettings/SandboxKey", "NetworkSettings/EndpointID",
    "NetworkSettings/Gateway", "NetworkSettings/IPAddress", "NetworkSettings/IPPrefixLen",
    "NetworkSettings/MacAddress", "NetworkSettings/Ports/*/*/HostPort",
    "NetworkSettings/Networks/*/NetworkID", "NetworkSettings/Networks/*/EndpointID",
    "NetworkSettings/Networks/*/Gateway", "NetworkSettings/Networks/*/IPAddress",
    "NetworkSettings/Networks/*/IPPrefixLen", "NetworkSettings/Networks/*/MacAddress",
]
# what dockerd keeps of a container's network after it stopped, stale, and dunnage empties
STALE = ["NetworkSettings/SandboxID", "NetworkSettings/SandboxKey", "NetworkSettings/Networks/*/NetworkID"]
# values that differ by design: (path, dockerd's, dunnage's, why)
DIFFERENT = [
    ("Driver", "overlay2", "dunnage-fuse", "the union file system is dunnage's own FUSE server"),
    ("GraphDriver/Name", "overlay2", "dunnage-fuse", "the same"),
    ("HostConfig/Runtime", "runc", "dunnage", "dunnage starts the process itself, no OCI runtime"),
    ("HostConfig/LogConfig/Type", "json-file", "dunnage-msgpack", "the log is msgpack records (core/logs.py)"),
    # every container gets a cgroup namespace of its own, on v1 as on v2, so that
    # /proc/self/cgroup and /sys/fs/cgroup show its own groups: docker's --cgroupns
    # private, which is docker's default on v2 only
    ("HostConfig/CgroupnsMode", "host", "private", "a cgroup namespace per container on v1 too"),
]
# keys only one side has: (path, side, why)
EXTRA_KEYS = [
    ("GraphDriver/Data/WorkDir", "docker", "overlayfs needs a work directory; the FUSE union does not"),
    ("NetworkSettings/Networks/*/Interface", "dunnage", "the interface's name in the container (eth0, ...)"),
]
# /sys/devices/virtual/powercap (RAPL energy counters, CVE-2020-8694) is masked too, as
# newer dockers do; 20.10 does not mask it
POWERCAP = "/sys/devices/virtual/powercap"


def _match(path: tuple, pattern: str) -> bool:
    """PATH (the keys and indexes down to a value: "80/tcp" is one key) against a
    pattern of /-separated globs."""
    pats = pattern.split("/")
    return len(path) == len(pats) and all(fnmatch.fnmatchcase(str(a), b) for a, b in zip(path, pats))


def _mounts(doc: dict) -> dict:
    """Mounts in one order: dockerd lists them in its map's random order."""
    return dict(doc, Mounts=sorted(doc.get("Mounts") or [], key=lambda m: m["Destination"]))


def differences(docker: dict, ours: dict) -> list[str]:
    """Every difference between the two documents that the lists above do not allow."""
    out: list[str] = []

    def walk(d, u, path):
        if isinstance(d, dict) and isinstance(u, dict):
            for k in [*d, *(k for k in u if k not in d)]:
                p = path + (k,)
                if k not in u or k not in d:
                    side = "docker" if k in d else "dunnage"
                    if not any(_match(p, pat) and s == side for pat, s, _ in EXTRA_KEYS):
                        out.append(f"{'/'.join(map(str, p))}: only {side} has it ({json.dumps(d.get(k, u.get(k)))[:80]})")
                    continue
                walk(d[k], u[k], p)
            if [k for k in d if k in u] != [k for k in u if k in d]:
                out.append(f"{'/'.join(map(str, path))}: keys in another order")
            return
        if isinstance(d, list) and isinstance(u, list) and len(d) == len(u) and any(
                isinstance(x, dict) for x in d):
            for i, (x, y) in enumerate(zip(d, u)):
                walk(x, y, path + (i,))
            return
        if any(_match(path, pat) for pat in OWN_VALUES) or (
                _match(path, "Mounts/*/Name") and all(re.fullmatch(r"[0-9a-f]{64}", str(x)) for x in (d, u))):
            # an anonymous volume's name is random on both sides; set on one side, set on the other
            stale = not running and any(_match(path, pat) for pat in STALE) and d and not u
            if type(d) is not type(u) or (bool(d) != bool(u) and not stale):
                out.append(f"{'/'.join(map(str, path))}: {d!r} against {u!r}")
            return
        for pat, dv, uv, _ in DIFFERENT:
            if _match(path, pat) and (d, u) == (dv, uv):
                return
        if path == ("HostConfig", "MaskedPaths") and u == d + [POWERCAP]:
            return
        if path == ("Config", "Env") and d and u and sorted(d) == sorted(u):
            return  # docker 20.10's client sends the -e variables in a random order (a Go map)
        if path == ("HostConfig", "Binds") and d and u and sorted(d) == sorted(u):
            return  # and the -v binds too: cli/command/container/opts.go ranges over volumes.GetMap()
        if d != u:
            out.append(f"{'/'.join(map(str, path))}: docker {json.dumps(d)[:100]}, dunnage {json.dumps(u)[:100]}")

    running = docker.get("State", {}).get("Running", True)
    walk(_mounts(docker), _mounts(ours), ())
    return out


def test_differences_sees_what_it_must():
    """The comparison itself: keys, order, values, and only the allowed differences pass."""
    doc = {"Id": "a", "Driver": "overlay2", "HostConfig": {"Memory": 0, "ShmSize": 1},
           "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "10.0.0.2"}}}}
    same = copy.deepcopy(doc)
    same.update(Id="b", Driver="dunnage-fuse")
    same["NetworkSettings"]["Networks"]["bridge"].update(IPAddress="172.17.0.2", Interface="eth0")
    assert differences(doc, same) == []
    missing = copy.deepcopy(same)
    del missing["HostConfig"]["ShmSize"]
    assert differences(doc, missing) == ["HostConfig/ShmSize: only docker has it (1)"]
    other = copy.deepcopy(same)
    other["HostConfig"] = {"ShmSize": 1, "Memory": 0}
    assert differences(doc, other) == ["HostConfig: keys in another order"]
    other["HostConfig"] = {"Memory": 5, "ShmSize": 1}
    assert differences(doc, other) == ["HostConfig/Memory: docker 0, dunnage 5"]
    assert differences(doc, dict(same, Driver="vfs")) == ['Driver: docker "overlay2", dunnage "vfs"']


# ------------------------------------------------------------------ the peer
@pytest.fixture(scope="session")
def dockerd(session_root, tmp_path_factory):
    """A dockerd of the session's own with the demo image dunnage has (dunnage save ->
    docker load), and an image without any config (docker import -> dunnage load)."""
    d = Dockerd()
    try:
        tar = tmp_path_factory.mktemp("dockerd-images") / "busybox.tar"
        assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
        d.ok("load", "-i", str(tar), timeout=120)
        from dunnage.core.images.demo import busybox_rootfs_tar
        rootfs = tar.with_name("rootfs.tar")
        rootfs.write_bytes(busybox_rootfs_tar())
        d.ok("import", str(rootfs), "local/noconfig:latest", timeout=120)
        d.ok("save", "-o", str(tar.with_name("noconfig.tar")), "local/noconfig:latest", timeout=120)
        r = cli(session_root, "load", "-i", str(tar.with_name("noconfig.tar")), timeout=120)
        assert r.returncode == 0, r.stderr
        yield d
    finally:
        d.close()


def both(session_root, dockerd, *args: str) -> None:
    """The same command line on both engines."""
    r = dockerd(*args)
    assert r.returncode == 0, r.stderr
    r = cli(session_root, *args)
    assert r.returncode == 0, r.stderr


def inspect_both(session_root, dockerd, name: str) -> tuple[dict, dict]:
    d = json.loads(dockerd.ok("inspect", name))[0]
    r = cli(session_root, "inspect", name)
    assert r.returncode == 0, r.stderr
    return d, json.loads(r.stdout)[0]


def status_of(session_root, dockerd, name: str) -> tuple[str, str]:
    return (dockerd.ok("inspect", "-f", "{{.State.Status}}", name).strip(),
            cli(session_root, "inspect", "-f", "{{.State.Status}}", name).stdout.decode().strip())


SCENARIOS = {  # name: (flags, command, the state both must reach)
    "plain": (["run", "-d"], ["sleep", "300"], "running"),
    "detached-it": (["run", "-dit"], ["sh"], "running"),
    "create": (["create"], ["sh"], "created"),
    "create-i": (["create", "-i"], ["sh"], "created"),
    "create-it": (["create", "-it"], ["sh"], "created"),
    "nonet": (["run", "-d", "--network", "none"], ["sleep", "300"], "running"),
    "bridge": (["run", "-d", "--network", "bridge"], ["sleep", "300"], "running"),
    "policy": (["run", "-d", "--restart", "on-failure:3"], ["sleep", "300"], "running"),
    "ports": (["run", "-d", "-p", "127.0.0.1::80", "-p", "127.0.0.1::81/udp", "--expose", "90"],
              ["sleep", "300"], "running"),
    "volumes": (["run", "-d", "-v", "inspect-named:/data", "-v", "{tmp}:/host:ro", "-v", "/anon"],
                ["sleep", "300"], "running"),
    "misc": (["run", "-d", "-e", "A=1", "-e", "PATH=/bin", "-l", "k=v", "-l", "a=b", "--user", "1000:1000",
              "-w", "/tmp", "-h", "myhost", "--stop-signal", "SIGINT", "--stop-timeout", "3"],
             ["sleep", "300"], "running"),
    "limits": (["run", "-d", "-m", "64m", "--cpus", "0.5", "--pids-limit", "50", "--log-opt", "max-size=10m",
                "--log-opt", "max-file=3"], ["sleep", "300"], "running"),
    "exited": (["run", "-d"], ["sh", "-c", "exit 3"], "exited"),
    "noconfig": (["run", "-d", "--image=local/noconfig:latest"], ["sleep", "300"], "running"),
    "noconfig-env": (["run", "-d", "-e", "A=1", "--image=local/noconfig:latest"], ["sleep", "300"], "running"),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_inspect_matches_dockerd(session_root, engine, dockerd, tmp_path, scenario):
    flags, command, want = SCENARIOS[scenario]
    name = f"insp-{scenario}"
    image = IMAGE
    flags = [f.replace("{tmp}", str(tmp_path)) for f in flags]
    for f in list(flags):
        if f.startswith("--image="):
            flags.remove(f)
            image = f.partition("=")[2]
    try:
        both(session_root, dockerd, *flags, "--name", name, image, *command)
        wait_for(lambda: status_of(session_root, dockerd, name) == (want, want), timeout=30)
        d, u = inspect_both(session_root, dockerd, name)
        diffs = differences(d, u)
        assert diffs == [], "\n".join(diffs)
    finally:
        dockerd("rm", "-f", "-v", name)
        cli(session_root, "rm", "-f", "-v", name)


def test_restarting_state_and_ps_match_dockerd(session_root, engine, dockerd):
    """While a restart policy waits, both say restarting: Running too, no pid, the last
    exit code, and ps's "Restarting (1) N seconds ago"."""
    name = "insp-restarting"
    try:
        both(session_root, dockerd, "run", "-d", "--restart", "always", "--name", name, IMAGE, "sh", "-c", "exit 1")

        def restarting(doc):
            return doc if doc["State"]["Status"] == "restarting" else None
        # the back-off doubles from 100 ms: each engine is caught waiting soon enough
        d = wait_for(lambda: restarting(json.loads(dockerd.ok("inspect", name))[0]), timeout=60, interval=0.02)
        u = wait_for(lambda: restarting(json.loads(cli(session_root, "inspect", name).stdout)[0]), timeout=60,
                     interval=0.02)
        for k in ("Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode", "Error"):
            assert u["State"][k] == d["State"][k], k
        assert (u["State"]["Running"], u["State"]["Restarting"], u["State"]["Pid"], u["State"]["ExitCode"]) == \
            (True, True, 0, 1)
        ignore_counts = [x for x in differences(d, u) if not x.startswith(("RestartCount", "NetworkSettings/"))]
        assert ignore_counts == [], "\n".join(ignore_counts)
        pattern = re.compile(rf"^{name} Restarting \(1\) .* ago$", re.M)

        def ps_restarting():
            return (pattern.search(dockerd.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}")),
                    pattern.search(cli(session_root, "ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.decode()))
        wait_for(lambda: all(ps_restarting()), timeout=60, interval=0.02)
    finally:
        dockerd("rm", "-f", name)
        cli(session_root, "rm", "-f", name)


def test_stop_and_kill_send_the_events_dockerd_sends(session_root, engine, dockerd):
    """docker stop of a container that ignores its stop signal: a kill event for the
    signal, another for SIGKILL at the timeout, then die and stop; docker kill: kill, die."""
    fmt = '{{.Action}} {{index .Actor.Attributes "signal"}}'

    def events(run, since: str, name: str) -> list[str]:
        r = run("events", "--since", since, "--until", str(int(time.time()) + 1), "--filter", "type=container",
                "--filter", f"container={name}", "--format", fmt)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode() if isinstance(r.stdout, bytes) else r.stdout
        return [line.strip() for line in out.splitlines()]
    since = str(int(time.time()) - 1)
    got = {}
    try:
        for engine_name, run in (("docker", dockerd), ("dunnage", lambda *a: cli(session_root, *a))):
            for name, cmd in (("ev-stop", ("stop", "-t", "1")), ("ev-kill", ("kill",))):
                assert run("run", "-d", "--name", name, IMAGE, "sh", "-c", "trap '' TERM; sleep 60").returncode == 0
                assert run(*cmd, name).returncode == 0
            time.sleep(1.1)  # (--until is in whole seconds: the last event's second must have passed)
            got[engine_name] = [events(run, since, n) for n in ("ev-stop", "ev-kill")]
    finally:
        for n in ("ev-stop", "ev-kill"):
            dockerd("rm", "-f", n)
            cli(session_root, "rm", "-f", n)
    assert got["docker"] == [["create", "start", "kill 15", "kill 9", "die", "stop"], ["create", "start", "kill 9", "die"]]
    assert got["dunnage"] == got["docker"]


def test_ps_filters_select_what_dockerd_selects(session_root, engine, dockerd):
    """docker ps --filter (and -n, -l) on both engines over the same three containers:
    the same names, in the same order; the same refusals."""
    names = ("flt-a", "flt-b", "flt-c")
    runs = (("run", "-d", "--name", "flt-a", "--label", "tier=web", IMAGE, "sleep", "120"),
            ("run", "--name", "flt-b", IMAGE, "sh", "-c", "exit 3"),
            ("run", "-d", "--name", "flt-c", "-p", "127.0.0.1::80", "--expose", "9000", "--label", "tier=db",
             IMAGE, "sleep", "120"))
    try:
        for args in runs:
            for run in (dockerd, lambda *a: cli(session_root, *a)):
                run(*args)
                time.sleep(0.01)  # (creation times apart: before/since and the order)
        queries = [[], ["-a"], ["-f", "status=exited"], ["-f", "exited=3"], ["-a", "-f", "exited=0"],
                   ["-a", "-f", "label=tier"], ["-a", "-f", "label=tier=db"], ["-a", "-f", "name=flt-"],
                   ["-a", "-f", "name=^/flt-a$"], ["-a", "-f", f"ancestor={IMAGE}"], ["-a", "-f", "before=flt-c"],
                   ["-a", "-f", "since=flt-a"], ["-a", "-f", "expose=9000"], ["-a", "-f", "expose=8000-9999/tcp"],
                   ["-a", "-f", "health=none"], ["-f", "status=running", "-f", "status=exited"],
                   ["-a", "-f", "label=tier=web", "-f", "status=running"], ["-n", "2"], ["-l"]]
        for q in queries:
            d = dockerd("ps", *q, "--format", "{{.Names}}")
            u = cli(session_root, "ps", *q, "--format", "{{.Names}}")
            assert d.returncode == 0 and u.returncode == 0, (q, d.stderr, u.stderr)
            mine = [n for n in u.stdout.decode().split() if n in names]
            assert mine == [n for n in d.stdout.decode().split() if n in names], q
        for q in (["-f", "bogus=1"], ["-f", "status=nope"], ["-f", "health=sick"], ["-f", "exited=x"]):
            d, u = dockerd("ps", *q), cli(session_root, "ps", *q)
            said = d.stderr.decode().strip().removeprefix("Error response from daemon: ")
            assert d.returncode != 0 and u.returncode != 0 and len(u.stderr.splitlines()) == 1, (q, u.stderr)
            assert u.stderr.decode().strip().removeprefix("dunnage: Error: ") == said, (q, said, u.stderr)
    finally:
        dockerd("rm", "-f", *names)
        cli(session_root, "rm", "-f", *names)


def test_history_is_what_dockerd_gives(session_root, dockerd, tmp_path):
    """docker history of the same images (dunnage save -> docker load; one built here with
    empty and non-empty steps): the same table, the same --no-trunc, -H=false and -q lines;
    an unknown image refused."""
    (tmp_path / "Dockerfile").write_text(f"FROM {IMAGE}\nENV A=1\nRUN printf 'x%.0s' $(seq 5000) > /five-k\n"
                                         "LABEL a=b\nRUN mkdir /d && echo hi > /d/f\nCMD [\"sh\"]\n")
    assert cli(session_root, "build", "-q", "-t", "local/histed:1", str(tmp_path), timeout=300).returncode == 0
    tar = tmp_path / "histed.tar"
    assert cli(session_root, "save", "-o", str(tar), "local/histed:1", timeout=120).returncode == 0
    dockerd.ok("load", "-i", str(tar), timeout=120)
    for args in ([IMAGE], ["--no-trunc", IMAGE], ["-H=false", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", IMAGE],
                 ["-q", IMAGE], ["--format", "{{json .}}", IMAGE], ["local/histed:1"], ["--no-trunc", "local/histed:1"],
                 ["-H=false", "local/histed:1"]):
        d = dockerd("history", *args)
        u = cli(session_root, "history", *args)
        assert d.returncode == 0 and u.returncode == 0, (args, d.stderr, u.stderr)
        def lines(out: bytes) -> list[str]:  # (the two ran a moment apart: "N seconds ago" may differ by one)
            return [re.sub(r" {2,}", "  ", re.sub(r"(Less than a second|About an? \w+|\d+ \w+) ago", "T ago", x)).rstrip()
                    for x in out.decode().splitlines()]
        assert lines(u.stdout) == lines(d.stdout), args
    u = cli(session_root, "image", "history", "--format", "{{.Size}}", IMAGE)
    assert u.returncode == 0 and u.stdout.decode().split() == dockerd("history", "--format", "{{.Size}}",
                                                                       IMAGE).stdout.decode().split()
    assert dockerd("history", "nothere").returncode != 0 and cli(session_root, "history", "nothere").returncode != 0
    dockerd("rmi", "local/histed:1")
    cli(session_root, "rmi", "local/histed:1")


# ------------------------------------------------------------------ the root file system
ROOT_PROBE = ("readlink /etc/mtab; stat -c %s /proc/keys /proc/timer_list; "
              "grep -E ' /proc/(keys|timer_list|acpi|scsi) ' /proc/self/mountinfo | "
              "while read -r a b c root mp opts rest; do echo \"$mp ${rest#*- }\"; done")


def test_root_has_mtab_and_masks_as_dockerd(session_root, engine, dockerd):
    """/etc/mtab links to /proc/mounts from the init layer (diff does not list it);
    masked files are the container's /dev/null (size 0, on its /dev tmpfs, never the
    host's devtmpfs), masked directories an empty read-only tmpfs."""
    name = "insp-root"
    try:
        both(session_root, dockerd, "run", "-d", "--name", name, IMAGE, "sleep", "300")
        d = dockerd.ok("exec", name, "sh", "-c", ROOT_PROBE)
        r = cli(session_root, "exec", name, "sh", "-c", ROOT_PROBE)
        assert r.returncode == 0, r.stderr
        u = r.stdout.decode()
        assert u.splitlines()[:3] == ["/proc/mounts", "0", "0"]
        assert "devtmpfs" not in u

        def fs(out):  # mount point, fs type, read-only or not: sizes are each engine's
            return sorted((ln.split()[0], ln.split()[1], ln.split()[3].split(",")[0]) for ln in out.splitlines()[3:])
        assert fs(u) == fs(d) and len(fs(u)) >= 2, (d, u)
        assert d.splitlines()[:3] == u.splitlines()[:3]
        assert "/etc/mtab" not in cli(session_root, "diff", name).stdout.decode()
        assert "/etc/mtab" not in dockerd.ok("diff", name)
    finally:
        dockerd("rm", "-f", name)
        cli(session_root, "rm", "-f", name)
