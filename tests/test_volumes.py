"""Volumes, bind mounts and tmpfs, in real containers."""
from __future__ import annotations

import json
import os

import pytest

from conftest import cli

pytestmark = pytest.mark.timeout(120)


def out(root, *args) -> str:
    p = cli(root, *args)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


@pytest.fixture
def volumes(engine):
    """Volumes made by a test are removed after it (containers first)."""
    before = {v["Name"] for v in engine.volumes()}
    yield
    for c in engine.containers(all_=True):
        engine.remove(c.id, force=True)
    for v in engine.volumes():
        if v["Name"] not in before:
            engine.volume_remove(v["Name"])


def test_a_named_volume_outlives_its_containers(session_root, engine, image, volumes):
    assert out(session_root, "volume", "create", "--label", "k=v", "keep").strip() == "keep"
    out(session_root, "run", "--rm", "--network", "none", "-v", "keep:/data", image, "sh", "-c",
        "echo kept > /data/f")
    assert out(session_root, "run", "--rm", "--network", "none", "-v", "keep:/data:ro", image,
               "cat", "/data/f") == "kept\n"
    info = json.loads(out(session_root, "volume", "inspect", "keep"))[0]
    assert info["Labels"] == {"k": "v"} and info["Driver"] == "local"
    assert open(os.path.join(info["Mountpoint"], "f")).read() == "kept\n"
    assert "keep" in out(session_root, "volume", "ls", "-q").split()
    # in use (even by a stopped container): refused
    c = engine.create(image, ["true"], volumes=["keep:/data"])
    p = cli(session_root, "volume", "rm", "keep")
    assert p.returncode == 1 and b"volume is in use" in p.stderr
    engine.remove(c.id)
    out(session_root, "volume", "rm", "keep")
    p = cli(session_root, "volume", "inspect", "keep")
    assert p.returncode == 1 and b"no such volume" in p.stderr


def test_read_only_volumes_and_binds_refuse_writes(session_root, engine, image, tmp_path, volumes):
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("from host\n")
    r = cli(session_root, "run", "--rm", "--network", "none", "-v", f"{host}:/h", "-v", f"{host}:/r:ro", image,
            "sh", "-c", "cat /h/in; echo back > /h/out; echo no > /r/x 2>&1 || echo refused")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().splitlines() == ["from host", "refused"]
    assert (host / "out").read_text() == "back\n" and not (host / "x").exists()
    # -v makes a missing host directory; --mount type=bind refuses it
    made = tmp_path / "made" / "deep"
    assert cli(session_root, "run", "--rm", "--network", "none", "-v", f"{made}:/m", image, "true").returncode == 0
    assert made.is_dir()
    r = cli(session_root, "run", "--rm", "--mount", f"type=bind,source={tmp_path}/absent,target=/m", image, "true")
    assert r.returncode == 125 and b"bind source path does not exist" in r.stderr


def test_tmpfs_mounts_with_docker_defaults(session_root, image):
    r = cli(session_root, "run", "--rm", "--network", "none", "--tmpfs", "/scratch:size=1m,mode=1777",
            "--mount", "type=tmpfs,target=/t2,tmpfs-size=2m", image, "sh", "-c",
            "grep -E ' /(scratch|t2) ' /proc/mounts; stat -c %a /scratch; "
            "cp /bin/busybox /scratch/bb && /scratch/bb true 2>/dev/null || echo noexec")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    scratch = next(x for x in lines if " /scratch " in x)
    assert "tmpfs" in scratch and "size=1024k" in scratch and "nosuid" in scratch and "nodev" in scratch
    assert any(" /t2 " in x and "size=2048k" in x for x in lines)
    assert "1777" in lines and lines[-1] == "noexec"


def test_image_volumes_are_anonymous_volumes_filled_from_the_image(session_root, engine, image, volumes):
    src = engine.run(image, ["sh", "-c", "mkdir /data && echo seed > /data/seed && chown 1:2 /data/seed"],
                     detach=True, network="none")
    engine.wait(src.id, 30)
    engine.commit(src.id, "local/withvol:1", changes={"Volumes": {"/data": {}}})
    try:
        c = engine.run("local/withvol:1", ["sh", "-c", "cat /data/seed; stat -c %u:%g /data/seed; echo more > /data/new"],
                       detach=True, network="none")
        engine.wait(c.id, 30)
        assert cli(session_root, "logs", c.id).stdout.decode().splitlines() == ["seed", "1:2"]
        mounts = engine.inspect(c.id)["Mounts"]
        assert len(mounts) == 1 and mounts[0]["Type"] == "volume" and mounts[0]["Destination"] == "/data"
        vol = mounts[0]["Name"]
        # the volume bypasses the union filesystem: nothing of it in the container's own layer
        assert not (c.upper / "data" / "new").exists()
        assert os.path.exists(os.path.join(mounts[0]["Source"], "new"))
        # --volumes-from, read-only
        reader = engine.run(image, ["sh", "-c", "cat /data/new; touch /data/x 2>/dev/null || echo ro"], detach=True,
                            network="none", volumes_from=[f"{c.id}:ro"])
        engine.wait(reader.id, 30)
        assert cli(session_root, "logs", reader.id).stdout.decode().splitlines() == ["more", "ro"]
        engine.remove(reader.id)
        # rm -v takes the anonymous volume along
        assert out(session_root, "rm", "-v", c.id)
        assert vol not in {v["Name"] for v in engine.volumes()}
    finally:
        engine.remove_image("local/withvol:1", force=True)


def test_a_named_volume_is_filled_once_and_only_while_empty(session_root, engine, image, volumes):
    r = cli(session_root, "run", "--rm", "--network", "none", "-v", "etcvol:/etc", image, "sh", "-c",
            "grep -c root /etc/passwd; rm /etc/passwd")
    assert r.stdout.decode().strip() == "1", r.stderr
    # removed by the first container: not filled again
    r = cli(session_root, "run", "--rm", "--network", "none", "-v", "etcvol:/etc", image, "ls", "/etc/passwd")
    assert r.returncode != 0
    # nocopy: an empty volume stays empty
    r = cli(session_root, "run", "--rm", "--network", "none", "-v", "bare:/etc:nocopy", image, "ls", "/etc/group")
    assert r.returncode != 0


def test_run_rm_removes_anonymous_volumes_but_not_named_ones(session_root, engine, image, volumes):
    before = {v["Name"] for v in engine.volumes()}
    assert cli(session_root, "run", "--rm", "--network", "none", "-v", "/anon", "-v", "named-kept:/n",
               image, "true").returncode == 0
    after = {v["Name"] for v in engine.volumes()}
    assert after - before == {"named-kept"}
    p = cli(session_root, "volume", "create", "dangling")
    assert p.returncode == 0
    p = cli(session_root, "run", "-d", "--network", "none", "-v", "/anon2", image, "true")
    cid = p.stdout.decode().strip()
    engine.wait(cid, 30)
    anon = [m["Name"] for m in engine.inspect(cid)["Mounts"]][0]
    engine.remove(cid)  # without -v: the anonymous volume stays, prune takes it
    pruned = out(session_root, "volume", "prune", "-f")
    assert anon in pruned and "dangling" not in pruned
    assert "dangling" in out(session_root, "volume", "prune", "-a", "-f")


@pytest.mark.parametrize("args, message", [
    (["-v", "relative:dir"], "invalid volume specification"),
    (["-v", "/host:/ctr:bogus"], "invalid mode"),
    (["-v", "bad name!:/x"], "not a volume name"),
    (["-v", "/a:/x", "-v", "/b:/x"], "Duplicate mount point: /x"),
    (["--mount", "type=bind,target=/x"], "absolute path"),
    (["--mount", "type=volume,target=/x,color=red"], "unknown field color"),
    (["--mount", "type=nfs,target=/x"], "type must be"),
    (["--tmpfs", "/x:size=lots"], "invalid size"),
    (["--tmpfs", "/x:fancy"], "unknown option"),
    (["--volumes-from", "nobody-here"], "No such container"),
])
def test_bad_mount_flags_are_one_line_errors(session_root, image, args, message):
    p = cli(session_root, "run", "--rm", *args, image, "true")
    assert p.returncode == 125
    err = p.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_cp_reaches_volumes_binds_and_tmpfs_as_docker_does(session_root, engine, image, tmp_path, volumes):
    """docker cp sees what the container sees: a volume's and a bind mount's contents, running
    or stopped (then the union root with the mounts laid over it), and a running container's
    tmpfs; a read-only mount refuses cp into it. export leaves volumes out."""
    import io
    import tarfile
    host = tmp_path / "host"
    host.mkdir()
    (host / "b.txt").write_text("bound\n")
    src = tmp_path / "in.txt"
    src.write_text("copied in\n")
    out(session_root, "run", "-d", "--name", "cpv", "--network", "none", "-v", "cpvol:/data", "-v", f"{host}:/bind",
        "-v", f"{host}:/robind:ro", "--tmpfs", "/scratch", image, "sh", "-c",
        "echo vol > /data/v.txt; echo tmp > /scratch/t.txt; sleep 300")
    from conftest import wait_for
    wait_for(lambda: cli(session_root, "exec", "cpv", "cat", "/scratch/t.txt").stdout == b"tmp\n", timeout=20)
    for path, want in (("/data/v.txt", "vol\n"), ("/bind/b.txt", "bound\n"), ("/scratch/t.txt", "tmp\n")):
        dest = tmp_path / ("run-" + os.path.basename(path))
        out(session_root, "cp", f"cpv:{path}", str(dest))
        assert dest.read_text() == want, path
    out(session_root, "cp", str(src), "cpv:/data/")
    assert out(session_root, "exec", "cpv", "cat", "/data/in.txt") == "copied in\n"
    r = cli(session_root, "cp", str(src), "cpv:/robind/")
    assert r.returncode == 1 and b"read-only" in r.stderr and not (host / "in.txt").exists()
    out(session_root, "stop", "-t", "1", "cpv")
    # stopped: the volume and the bind mount still answer; the write goes into the volume
    for path, want in (("/data/v.txt", "vol\n"), ("/data/in.txt", "copied in\n"), ("/bind/b.txt", "bound\n")):
        dest = tmp_path / ("stopped-" + os.path.basename(path))
        out(session_root, "cp", f"cpv:{path}", str(dest))
        assert dest.read_text() == want, path
    out(session_root, "cp", str(src), "cpv:/bind/again.txt")
    assert (host / "again.txt").read_text() == "copied in\n"
    r = cli(session_root, "cp", str(src), "cpv:/robind/x.txt")
    assert r.returncode == 1 and b"mounted volume is marked read-only" in r.stderr and not (host / "x.txt").exists()
    c = engine.container("cpv")
    assert not (c.upper / "data" / "in.txt").exists()  # nothing went into the union's upper layer
    names = tarfile.open(fileobj=io.BytesIO(cli(session_root, "export", "cpv").stdout)).getnames()
    assert "bin/busybox" in names and "data/v.txt" not in names and "bind/b.txt" not in names
