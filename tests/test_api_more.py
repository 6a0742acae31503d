"""The Engine API's second step (issue 19): events, stats, archive (docker cp),
export, changes, disk usage, history, prunes, commit, save and load, driven by the
real clients (Debian's docker CLI and the Docker SDK for Python) against the real
service on the session's root.  What a test makes goes after it, pass or fail."""
from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from conftest import cli, wait_for
from test_api import DOCKER, IMAGE, request, running_service


@pytest.fixture(scope="module")
def service(session_root):
    with running_service(session_root, "docker-more.sock") as sock:
        yield sock


@pytest.fixture
def api(service, engine):
    """The socket; the volumes, networks and images a test makes go after it (the
    engine fixture removes its containers)."""
    vols = {v["Name"] for v in engine.volumes()}
    nets = {n["Name"] for n in engine.networks()}
    imgs = {i.id for i in engine.list_images()}
    yield service
    for v in engine.volumes():
        if v["Name"] not in vols:
            try:
                engine.volume_remove(v["Name"])
            except Exception:  # noqa: BLE001
                pass
    for n in engine.networks():
        if n["Name"] not in nets:
            try:
                engine.network_remove(n["Name"])
            except Exception:  # noqa: BLE001
                pass
    for i in engine.list_images():
        if i.id not in imgs:
            try:
                engine.remove_image(i.id, force=True)
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def docker(api, tmp_path):
    env = dict(os.environ, DOCKER_CONFIG=str(tmp_path / "docker-config"))

    def run(*args, timeout=60, input=None) -> subprocess.CompletedProcess:
        return subprocess.run([DOCKER, "-H", f"unix://{api}", *args], capture_output=True, text=input is None or
                              isinstance(input, str), env=env, timeout=timeout, input=input)
    return run


@pytest.fixture
def sdk(api):
    import docker  # the test extra installs it
    client = docker.DockerClient(base_url=f"unix://{api}", timeout=60)
    yield client
    client.close()


# ------------------------------------------------------------------ events

def test_events_cli_since_until_and_filters(docker, engine):
    r = docker("run", "-d", "--name", "api-ev", "--label", "suite=events", IMAGE, "sh", "-c", "exit 4")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: engine.container("api-ev").status == "exited")
    done = time.time()
    wait_for(lambda: time.time() >= int(done) + 1, timeout=3)  # the CLI's --until 0s is whole seconds
    r = docker("events", "--since", "1m", "--until", "0s", "--filter", "container=api-ev",
               "--format", "{{json .}}", timeout=30)
    assert r.returncode == 0, r.stderr
    evs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [ev["Action"] for ev in evs] == ["create", "start", "die"]
    cid = engine.container("api-ev").id
    assert all(ev["Actor"]["ID"] == cid and ev["Type"] == "container" for ev in evs)
    assert evs[2]["Actor"]["Attributes"]["exitCode"] == "4"
    assert evs[0]["Actor"]["Attributes"]["suite"] == "events"  # docker's events carry the labels
    assert evs[0]["from"] == IMAGE and evs[0]["status"] == "create"
    r = docker("events", "--since", "1m", "--until", "0s", "--filter", "label=suite=events",
               "--filter", "event=die", "--format", "{{.Action}} {{.Actor.Attributes.name}}", timeout=30)
    assert (r.returncode, r.stdout) == (0, "die api-ev\n"), r.stderr
    r = docker("events", "--since", "1m", "--until", "0s", "--filter", "type=volume",
               "--filter", "container=api-ev", timeout=30)
    assert (r.returncode, r.stdout) == (0, ""), r.stderr
    r = docker("events", "--since", "1m", "--until", "2m", timeout=30)
    assert r.returncode != 0 and "`since` time (" in r.stderr  # (any filter key is taken, as dockerd 20.10's)
    assert len(r.stderr.strip().splitlines()) == 1


def test_events_sdk_stream_sees_other_fronts(sdk, api, session_root):
    stream = sdk.events(decode=True, filters={"type": "volume"})
    try:
        cli(session_root, "volume", "create", "api-ev-vol", timeout=30)  # another front: the command line
        ev = next(iter(stream))
        assert (ev["Type"], ev["Action"], ev["Actor"]["ID"]) == ("volume", "create", "api-ev-vol")
        assert ev["timeNano"] // 10**9 == ev["time"] and abs(ev["time"] - time.time()) < 60
    finally:
        stream.close()
    status, body = request(api, "GET", "/events?until=abc")
    assert (status, body["message"]) == (500, 'strconv.ParseInt: parsing "abc": invalid syntax')  # (dockerd's)


# ------------------------------------------------------------------ stats

def _pct(s: str) -> float:
    return float(s.rstrip("%"))


def test_stats_cli_no_stream_and_sdk(docker, sdk, engine):
    r = docker("run", "-d", "--name", "api-busy", "--memory", "64m", IMAGE, "sh", "-c", "while :; do :; done")
    assert r.returncode == 0, r.stderr
    r = docker("run", "-d", "--name", "api-idle", IMAGE, "sleep", "100")
    assert r.returncode == 0, r.stderr
    r = docker("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.MemPerc}} {{.PIDs}}",
               "api-busy", "api-idle", timeout=30)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()}
    busy, idle = rows["api-busy"], rows["api-idle"]
    # a spinning shell, a sleeping one (a loaded host gives the spinner less than a core: it still spins)
    assert _pct(busy[1]) > 5 and _pct(idle[1]) < 2, r.stdout
    assert busy[2:5] == [busy[2], "/", "64MiB"] and busy[4] == "64MiB"
    assert 0 < _pct(busy[5]) < 100 and busy[6] == "1"
    ours = {s.name: s for s in engine.stats(["api-busy", "api-idle"])}  # the same figures: dunnage stats
    assert ours["api-busy"].mem_limit == 64 << 20 and ours["api-busy"].cpu_percent > 5
    c = sdk.containers.get("api-busy")
    doc = c.stats(stream=False)
    assert doc["name"] == "/api-busy" and doc["memory_stats"]["limit"] == 64 << 20
    assert doc["pids_stats"]["current"] == 1 and doc["networks"]["eth0"]["rx_bytes"] >= 0
    cpu, pre = doc["cpu_stats"], doc["precpu_stats"]
    delta = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    pct = delta / (cpu["system_cpu_usage"] - pre["system_cpu_usage"]) * cpu["online_cpus"] * 100
    assert pct > 5
    assert {x["op"] for x in doc["blkio_stats"]["io_service_bytes_recursive"]} == {"read", "write"}
    stream = c.stats(decode=True)
    try:
        first, second = next(stream), next(stream)
        assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
        assert second["precpu_stats"]["cpu_usage"]["total_usage"] == first["cpu_stats"]["cpu_usage"]["total_usage"]
    finally:
        stream.close()
    one = sdk.api.stats("api-idle", stream=False, one_shot=True)
    assert one["pids_stats"]["current"] == 1 and one["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert docker("stats", "--no-stream", "api-nosuch").returncode != 0


# ------------------------------------------------------------------ archive, export, changes

def test_cli_cp_both_ways_export_and_diff(docker, tmp_path):
    import tarfile
    r = docker("run", "-d", "--name", "api-cp", IMAGE, "sh", "-c",
               "mkdir -p /data/sub && echo hello > /data/sub/f && ln -s sub/f /data/link && sleep 100")
    assert r.returncode == 0, r.stderr
    wait_for(lambda: docker("exec", "api-cp", "test", "-L", "/data/link").returncode == 0)
    r = docker("cp", "api-cp:/data/sub", str(tmp_path / "out"))  # a directory, renamed on the way
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "f").read_text() == "hello\n"
    r = docker("cp", "api-cp:/data/link", str(tmp_path / "l"))  # a link stays a link
    assert r.returncode == 0, r.stderr
    assert os.readlink(tmp_path / "l") == "sub/f"
    r = docker("cp", "-L", "api-cp:/data/link", str(tmp_path / "followed"))  # -L: its target (linkTarget)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "followed").read_text() == "hello\n"
    r = docker("cp", "api-cp:/data/sub/f", "-", input=b"")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=__import__("io").BytesIO(r.stdout)) as tf:
        assert tf.getnames() == ["f"] and tf.extractfile("f").read() == b"hello\n"
    (tmp_path / "in.txt").write_text("into the container\n")
    (tmp_path / "tree" / "deep").mkdir(parents=True)
    (tmp_path / "tree" / "deep" / "x").write_text("x\n")
    assert docker("cp", str(tmp_path / "in.txt"), "api-cp:/data/").returncode == 0
    r = docker("cp", str(tmp_path / "tree"), "api-cp:/newdir")  # a new name: the parent gets it renamed
    assert r.returncode == 0, r.stderr
    r = docker("exec", "api-cp", "cat", "/data/in.txt", "/newdir/deep/x")
    assert (r.returncode, r.stdout) == (0, "into the container\nx\n"), r.stderr
    r = docker("cp", "api-cp:/nosuch", str(tmp_path))
    assert (r.returncode, r.stderr) == (1, "Error: No such container:path: api-cp:/nosuch\n")  # a 404, as dockerd
    r = docker("cp", str(tmp_path / "in.txt"), "api-cp:/nosuchdir/sub/")
    assert r.returncode != 0 and r.stderr.strip()
    r = docker("diff", "api-cp")
    assert r.returncode == 0, r.stderr
    lines = set(r.stdout.splitlines())
    assert {"A /data", "A /data/in.txt", "A /newdir", "A /newdir/deep/x"} <= lines
    out = tmp_path / "export.tar"
    r = docker("export", "-o", str(out), "api-cp")
    assert r.returncode == 0, r.stderr
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
    assert {"data/sub/f", "data/in.txt", "bin/busybox"} <= {n.rstrip("/") for n in names}


def test_sdk_get_and_put_archive(sdk, tmp_path):
    import io
    import tarfile
    c = sdk.containers.run(IMAGE, ["sleep", "100"], detach=True, name="api-cp-sdk")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"put by the sdk\n"
        info = tarfile.TarInfo("sdk.txt")
        info.size, info.mode = len(data), 0o640
        tf.addfile(info, io.BytesIO(data))
    assert c.put_archive("/tmp", buf.getvalue()) is True
    chunks, st = c.get_archive("/tmp/sdk.txt")
    assert (st["name"], st["size"], st["mode"] & 0o777, st["linkTarget"]) == ("sdk.txt", 15, 0o640, "")
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tf:
        assert tf.extractfile("sdk.txt").read() == b"put by the sdk\n"
    _, st = c.get_archive("/tmp")
    assert st["mode"] & (1 << 31)  # Go's os.ModeDir: the clients' test for a directory
    import docker as docker_sdk
    with pytest.raises(docker_sdk.errors.NotFound):
        c.get_archive("/nosuch")
    with pytest.raises(docker_sdk.errors.APIError) as ei:
        c.put_archive("/tmp/sdk.txt", buf.getvalue())
    assert ei.value.status_code == 400 and "not a directory" in str(ei.value)
    with pytest.raises(docker_sdk.errors.APIError) as ei:
        c.put_archive("/tmp", b"not a tar at all" * 64)
    assert ei.value.status_code == 400
    assert {"Path": "/tmp/sdk.txt", "Kind": 1} in c.diff()


# ------------------------------------------------------------------ df, prunes, commit, history, save/load

def test_cli_commit_history_save_load_and_prunes(docker, engine, tmp_path):
    r = docker("run", "--name", "api-commit", IMAGE, "sh", "-c", "echo made > /made.txt")
    assert r.returncode == 0, r.stderr
    r = docker("cp", "api-commit:/made.txt", str(tmp_path / "made.txt"))  # a stopped container's files
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "made.txt").read_text() == "made\n"
    r = docker("commit", "-m", "by the api", "api-commit", "local/api-committed:1")
    assert r.returncode == 0, r.stderr
    committed = r.stdout.strip()
    assert committed.startswith("sha256:") and engine.image("local/api-committed:1").id == committed
    r = docker("commit", "-c", "FROB x", "api-commit", "local/api-committed:2")
    assert r.returncode != 0 and "FROB is not a valid change command" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = docker("history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Comment}}|{{.Size}}",
               "local/api-committed:1")
    assert r.returncode == 0, r.stderr
    top, *rest = r.stdout.splitlines()
    assert top.startswith(committed + "|") and top.split("|")[2] == "by the api" and top.split("|")[3] != "0B"
    assert rest and all(line.startswith("<missing>|") for line in rest)
    r = docker("run", "--rm", "local/api-committed:1", "cat", "/made.txt")
    assert (r.returncode, r.stdout) == (0, "made\n"), r.stderr
    tar = tmp_path / "saved.tar"
    r = docker("save", "-o", str(tar), "local/api-committed:1")
    assert r.returncode == 0, r.stderr
    assert tar.stat().st_size > 0
    r = docker("rmi", "local/api-committed:1")
    assert r.returncode == 0, r.stderr
    r = docker("load", "-i", str(tar))
    assert (r.returncode, r.stdout) == (0, "Loaded image: local/api-committed:1\n"), r.stderr
    assert engine.image("local/api-committed:1").id == committed
    r = docker("load", input=b"not a tar")
    assert r.returncode != 0 and r.stderr.strip()
    r = docker("system", "df", "--format", "{{.Type}} {{.TotalCount}} {{.Active}}")
    assert r.returncode == 0, r.stderr
    kinds = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()}
    assert int(kinds["Images"][0]) >= 2 and int(kinds["Containers"][0]) >= 1, r.stdout
    r = docker("system", "df", "-v", "--format", "{{json .}}")
    assert r.returncode == 0, r.stderr
    # prunes: the stopped container, then the image nothing uses any more
    assert docker("volume", "create", "api-prune-vol").returncode == 0
    assert docker("network", "create", "api-prune-net").returncode == 0
    r = docker("container", "prune", "-f")
    assert r.returncode == 0, r.stderr
    assert docker("create", "--name", "api-holder", IMAGE).returncode == 0  # the session's image stays
    assert "api-commit" not in {c.name for c in engine.containers(all_=True)}
    r = docker("image", "prune", "-a", "-f")
    assert r.returncode == 0, r.stderr
    assert "local/api-committed:1" not in {t for i in engine.list_images() for t in i.tags}
    assert docker("volume", "prune", "-f").returncode == 0
    assert "api-prune-vol" not in {v["Name"] for v in engine.volumes()}
    assert docker("network", "prune", "-f").returncode == 0
    assert "api-prune-net" not in {n["Name"] for n in engine.networks()}
    r = docker("container", "prune", "-f", "--filter", "nosuch=1")
    assert r.returncode != 0 and "Invalid filter 'nosuch'" in r.stderr


def test_sdk_df_commit_history_save_load(sdk, engine):
    import docker as docker_sdk
    c = sdk.containers.run(IMAGE, ["sh", "-c", "echo sdk > /sdk.txt"], detach=True, name="api-commit-sdk")
    assert c.wait(timeout=30)["StatusCode"] == 0
    img = c.commit("local/api-sdk-committed", "1", message="sdk", conf={"Cmd": ["cat", "/sdk.txt"]})
    assert img.id == engine.image("local/api-sdk-committed:1").id
    run = sdk.containers.run("local/api-sdk-committed:1", detach=True)  # the Config's Cmd
    assert run.wait(timeout=30)["StatusCode"] == 0 and run.logs() == b"sdk\n"
    run.remove()
    hist = img.history()
    assert hist[0]["Id"] == img.id and hist[0]["Tags"] == ["local/api-sdk-committed:1"]
    assert hist[0]["Comment"] == "sdk" and hist[0]["Size"] > 0
    data = b"".join(img.save())
    sdk.images.remove("local/api-sdk-committed:1")
    (loaded,) = sdk.images.load(data)
    assert loaded.id == img.id
    df = sdk.df()
    assert {"LayersSize", "Images", "Containers", "Volumes", "BuildCache"} <= set(df)
    assert any(i["Id"] == img.id and i["Size"] > 0 for i in df["Images"])
    assert any(x["Id"] == c.id and x["SizeRw"] >= 0 for x in df["Containers"])
    with pytest.raises(docker_sdk.errors.NotFound):
        sdk.api.history("local/nosuch:1")
    pruned = sdk.containers.prune()
    assert c.id in pruned["ContainersDeleted"] and pruned["SpaceReclaimed"] >= 0
    sdk.containers.create(IMAGE, name="api-holder-sdk")  # the session's image stays
    pruned = sdk.images.prune(filters={"dangling": False})
    assert any(d.get("Untagged") == "local/api-sdk-committed:1" for d in pruned["ImagesDeleted"])
