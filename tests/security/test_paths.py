"""Path holes of issue 16 (items 2, 3, 4, 9 and the cp traceback of 15): every host-side
touch of a container's files -- cp both ways, export, diff, an image's VOLUME, the mount
targets of its root -- resolves inside the container's root, by descriptor, and a chain of
more than 40 links is ELOOP, never a partly resolved path.

Each attack aims at a canary directory of the test's own (tmp_path) with a file in it; the
tests check nothing there is read, written or created, and that links that stay inside the
container still work as docker's do."""
from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import tarfile

import pytest

from conftest import cli, wait_for

pytestmark = pytest.mark.timeout(180)

SECRET = "HOSTSECRET-1f6e"


def ok(root, *args) -> str:
    p = cli(root, *args, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.decode()


def one_line_error(p: subprocess.CompletedProcess, code: int = 1) -> str:
    err = p.stderr.decode()
    assert p.returncode == code and b"Traceback" not in p.stderr and len(err.strip().splitlines()) == 1, err
    return err


@pytest.fixture
def canary(tmp_path):
    """A host directory the containers must not reach: a secret file, a name only it has."""
    d = tmp_path / "canary"
    d.mkdir()
    (d / "secret").write_text(SECRET + "\n")
    (d / "hostonly-name").write_text("x\n")
    before = sorted(os.listdir(d))
    yield d
    assert sorted(os.listdir(d)) == before, "something was created in the host's canary directory"
    assert (d / "secret").read_text() == SECRET + "\n", "the host's file was overwritten"


def _links_script(canary) -> str:
    up = "../" * 30
    return (f"ln -s {canary} /link; ln -s {canary}/secret /flink; ln -s {up}{str(canary).lstrip('/')} /rlink; "
            f"ln -s ../nothere/x /dangle; mkdir -p {_inner(canary)}; echo in > {_inner(canary)}/f; "
            f"ln -s {_inner(canary)} /innerlink")


def _inner(canary) -> str:
    """A directory of the container's own, at a path the host does not have."""
    return f"{canary.parent}/container-only/inner"


def _attack_cp(root, name, canary, tmp_path) -> None:
    src = tmp_path / "payload"
    src.write_text("payload\n")
    for link in ("/link", "/flink", "/rlink", "/dangle", "/link/", "/rlink/new"):
        p = cli(root, "cp", str(src), f"{name}:{link}")
        if p.returncode != 0:
            one_line_error(p)
    for i, path in enumerate(("/link/secret", "/rlink/secret", "/flink/", "/link/.", "/rlink/.")):
        dest = tmp_path / f"out{i}"
        p = cli(root, "cp", f"{name}:{path}", str(dest))
        if p.returncode != 0:
            one_line_error(p)
        assert SECRET not in _read_tree(dest), path
    # a link that stays inside the container: followed, inside it (docker's cp)
    ok(root, "cp", str(src), f"{name}:/innerlink")
    dest = tmp_path / "inner-out"
    ok(root, "cp", f"{name}:/innerlink/payload", str(dest))
    assert dest.read_text() == "payload\n"
    ok(root, "cp", f"{name}:/innerlink/f", str(dest))
    assert dest.read_text() == "in\n"


def _read_tree(p) -> str:
    if os.path.islink(p) or not os.path.lexists(p):
        return ""
    if os.path.isdir(p):
        return "".join(_read_tree(os.path.join(p, n)) for n in os.listdir(p))
    return open(p, errors="replace").read()


def test_cp_through_links_to_host_paths_stays_in_a_running_container(session_root, engine, image, canary,
                                                                      tmp_path):
    ok(session_root, "run", "-d", "--name", "cplinks", "--network", "none", image, "sh", "-c",
       _links_script(canary) + "; touch /ready; sleep 300")
    wait_for(lambda: cli(session_root, "exec", "cplinks", "ls", "/ready").returncode == 0, timeout=20)
    _attack_cp(session_root, "cplinks", canary, tmp_path)
    assert ok(session_root, "exec", "cplinks", "cat", f"{_inner(canary)}/payload") == "payload\n"


def test_cp_through_links_to_host_paths_stays_in_a_stopped_container(session_root, engine, image, canary,
                                                                      tmp_path):
    """Stopped: cp works on a temporary mount of the container's root, from which a relative
    ../../.. link climbs to the host's / unless resolved inside the root."""
    ok(session_root, "run", "--name", "cpstopped", "--network", "none", image, "sh", "-c", _links_script(canary))
    _attack_cp(session_root, "cpstopped", canary, tmp_path)
    c = engine.container("cpstopped")
    assert (c.upper / _inner(canary).lstrip("/") / "payload").read_text() == "payload\n"


def _chain(prefix: str, n: int, end: str) -> str:
    """N links PREFIX0 -> PREFIX1 -> ... -> END."""
    return (f"i=0; while [ $i -lt {n - 1} ]; do ln -s /{prefix}$((i+1)) /{prefix}$i; i=$((i+1)); done; "
            f"ln -s {end} /{prefix}{n - 1}")


def test_a_chain_of_41_links_is_eloop_both_ways(session_root, engine, image, canary, tmp_path):
    src = tmp_path / "payload"
    src.write_text("payload\n")
    ok(session_root, "run", "-d", "--name", "chain", "--network", "none", image, "sh", "-c",
       f"{_chain('l', 41, canary)}; {_chain('m', 40, '/etc')}; touch /ready; sleep 300")
    wait_for(lambda: cli(session_root, "exec", "chain", "ls", "/ready").returncode == 0, timeout=20)
    passwd = ok(session_root, "exec", "chain", "cat", "/etc/passwd")
    for state in ("running", "stopped"):
        for args in ((f"chain:/l0/secret", str(tmp_path / "out")), (str(src), "chain:/l0/new"),
                     (str(src), "chain:/l0")):
            err = one_line_error(cli(session_root, "cp", *args))
            assert "too many levels of symbolic links" in err, (state, args, err)
        assert not (tmp_path / "out").exists()
        # 40 links are still followed, inside the root
        ok(session_root, "cp", "chain:/m0/passwd", str(tmp_path / "passwd"))
        assert (tmp_path / "passwd").read_text() == passwd
        ok(session_root, "stop", "-t", "1", "chain")


def _commit(root, container, ref, *changes) -> None:
    ok(root, "commit", *sum((["-c", c] for c in changes), []), container, ref)


def test_an_image_volume_on_a_link_chain_takes_nothing_from_the_host(session_root, engine, image, canary,
                                                                      tmp_path):
    """The shim fills an image's VOLUME from the image's content at its path: a 41-link chain
    ending at a host directory must neither copy that directory into the volume nor make a
    missing host directory (the mount target); the container is refused with ELOOP.  A link
    that stays inside still leads the volume where it points."""
    made = tmp_path / "made-by-the-mount"
    ok(session_root, "run", "--name", "volsrc", "--network", "none", image, "sh", "-c",
       f"{_chain('l', 41, canary)}; {_chain('n', 41, made)}")
    for ref, vol in (("pathvol:chain", "/l0"), ("pathvol:made", "/n0")):
        _commit(session_root, "volsrc", ref, f"VOLUME {vol}")
        try:
            p = cli(session_root, "run", "--name", "volrun", "--network", "none", ref, "true")
            err = one_line_error(p, 125)
            assert "too many levels of symbolic links" in err, err
            for m in json.loads(ok(session_root, "inspect", "volrun"))[0]["Mounts"]:
                assert SECRET not in _read_tree(m["Source"]), m
            assert not made.exists()
        finally:
            engine.remove("volrun", force=True)
            cli(session_root, "volume", "prune", "-f")
            cli(session_root, "rmi", ref)
    # legitimate: VOLUME /v where /v links to a directory of the image is filled from there
    ok(session_root, "run", "--name", "vollegit", "--network", "none", image, "sh", "-c",
       "mkdir -p /srv/data; echo image > /srv/data/f; ln -s /srv/data /v")
    _commit(session_root, "vollegit", "pathvol:legit", "VOLUME /v")
    try:
        assert ok(session_root, "run", "--rm", "--network", "none", "pathvol:legit", "cat", "/srv/data/f") == "image\n"
    finally:
        cli(session_root, "volume", "prune", "-f")
        cli(session_root, "rmi", "pathvol:legit")


EXCHANGER = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    (void)argc;
    for (;;) syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], 2 /* RENAME_EXCHANGE */);
}
"""


def test_export_and_diff_racing_a_symlink_swap_hold_no_host_file(session_root, engine, image, canary, tmp_path):
    """A running container swaps a directory with a link to a host directory as fast as it can
    (renameat2 RENAME_EXCHANGE): a walk by path descends into the host; by descriptor it cannot."""
    c_src = tmp_path / "exchange.c"
    c_src.write_text(EXCHANGER)
    exe = tmp_path / "exchange"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(c_src)], check=True, timeout=60)
    c = engine.create(image, ["sh", "-c", f"mkdir /d; echo inside > /d/secret; "
                                          f"ln -s {canary} /l; exec /exchange /d /l"], name="swapper",
                      network="none", detach=True)
    engine.copy_to(c.id, str(exe), "/exchange")
    engine.start(c.id)
    wait_for(lambda: os.path.lexists(c.upper / "l"), timeout=20)
    for _ in range(25):
        p = cli(session_root, "export", "swapper")
        assert p.returncode == 0, p.stderr
        with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
            for m in tf:
                assert "hostonly-name" not in m.name
                if m.isreg():
                    assert SECRET.encode() not in tf.extractfile(m).read(), m.name
        assert "hostonly-name" not in ok(session_root, "diff", "swapper")
    assert engine.container("swapper").status == "running"


# ------------------------------------------------------------------ the module, without root or containers
@pytest.fixture(params=["openat2", "fallback"])
def openat(request, monkeypatch):
    from dunnage.core.runtime import openat as mod
    if request.param == "fallback":
        monkeypatch.setattr(mod, "_HAVE_OPENAT2", False)
    return mod


def test_resolution_stays_in_the_root(openat, tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "f").write_text("inside\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "f").write_text("outside\n")
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../../../etc", root / "rel")
    os.symlink("/proc/self/root/etc", root / "magic")
    for i in range(41):
        os.symlink(f"/c{i + 1}" if i < 40 else "/etc", root / f"c{i}")
    for i in range(40):
        os.symlink(f"/d{i + 1}" if i < 39 else "/etc", root / f"d{i}")
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path in ("abs/f", "rel/f", "/abs/../etc/f", "../../etc/f", "d0/f"):
            fd = openat.open_in_root(rootfd, path, os.O_RDONLY)
            with open(fd) as f:
                assert f.read() == "inside\n", path
        with pytest.raises(OSError) as e:
            openat.open_in_root(rootfd, "c0/f", os.O_RDONLY)
        assert e.value.errno == errno.ELOOP
        with pytest.raises(OSError) as e:
            openat.open_in_root(rootfd, "magic/f", os.O_RDONLY)
        assert e.value.errno in (errno.ENOENT, errno.ELOOP, errno.EXDEV)
        # the last link itself, unfollowed
        fd = openat.open_in_root(rootfd, "abs", os.O_PATH | os.O_NOFOLLOW)
        assert os.readlink("", dir_fd=fd) == "/etc"
        os.close(fd)
        # made inside, through a link
        fd = openat.ensure(rootfd, "/abs/new/dir", directory=True)
        os.close(fd)
        assert (root / "etc" / "new" / "dir").is_dir() and not (tmp_path / "etc" / "new").exists()
    finally:
        os.close(rootfd)
