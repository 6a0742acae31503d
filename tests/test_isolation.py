"""docker's isolation defaults, checked from inside real containers."""
from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.timeout(120)

DOCKER_DEFAULT_CAPS = 0x00000000A80425FB


def status(run_cli, image, *flags) -> dict:
    r = run_cli("run", "--rm", *flags, image, "cat", "/proc/self/status")
    assert r.returncode == 0, r.stderr
    return dict(line.split(":\t", 1) for line in r.stdout.decode().splitlines() if ":\t" in line)


def our_permitted() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapPrm:"))


def test_default_capabilities_are_dockers_fourteen(run_cli, image):
    st = status(run_cli, image)
    assert int(st["CapEff"], 16) == DOCKER_DEFAULT_CAPS
    assert int(st["CapPrm"], 16) == DOCKER_DEFAULT_CAPS
    assert int(st["CapBnd"], 16) == DOCKER_DEFAULT_CAPS   # nothing more can ever be gained
    assert int(st["CapInh"], 16) == 0 and int(st["CapAmb"], 16) == 0
    assert st["NoNewPrivs"].strip() == "0"  # off by default, as docker: setuid programs keep working


def test_cap_add_drop_and_no_new_privileges(run_cli, image):
    st = status(run_cli, image, "--cap-drop", "ALL", "--cap-add", "net_admin", "--security-opt", "no-new-privileges")
    assert int(st["CapEff"], 16) == 1 << 12
    assert st["NoNewPrivs"].strip() == "1"
    st = status(run_cli, image, "--cap-drop", "CAP_CHOWN", "--cap-drop", "net_raw")
    assert int(st["CapEff"], 16) == DOCKER_DEFAULT_CAPS & ~(1 << 0) & ~(1 << 13)


def test_privileged_gets_every_capability_and_can_mount(run_cli, image):
    st = status(run_cli, image, "--privileged")
    assert int(st["CapEff"], 16) == our_permitted()
    r = run_cli("run", "--rm", "--privileged", image, "sh", "-c", "mkdir -p /mnt && mount -t tmpfs none /mnt && echo ok")
    assert r.stdout == b"ok\n", r.stderr


def test_container_cannot_mount_write_proc_sys_set_the_clock_or_load_modules(run_cli, image):
    script = (
        "mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1 && echo MOUNTED;"
        "echo 1 > /proc/sys/kernel/printk 2>&1 || echo PROCSYS-RO;"
        "touch /sys/kernel/x 2>&1 || echo SYS-RO;"
        "date -s 2001-01-01 2>&1 >/dev/null | grep -q 'not permitted' && echo CLOCK-EPERM;"
        "insmod /bin/busybox 2>/dev/null || echo NO-MODULES;"
        "touch /f && chown 1000:1000 /f && echo CHOWN-OK"
    )
    r = run_cli("run", "--rm", image, "sh", "-c", script)
    out = r.stdout.decode()
    assert "MOUNTED" not in out
    for word in ("PROCSYS-RO", "SYS-RO", "CLOCK-EPERM", "NO-MODULES", "CHOWN-OK"):
        assert word in out, out
    st = status(run_cli, image)
    for cap in (16, 21, 25):  # SYS_MODULE, SYS_ADMIN, SYS_TIME: not even in the bounding set
        assert not int(st["CapBnd"], 16) & (1 << cap)


def test_masked_paths_are_empty(run_cli, image):
    present = [p for p in ("/proc/timer_list", "/proc/sched_debug", "/proc/keys", "/sys/firmware")
               if os.path.exists(p)]
    assert present, "this kernel has none of the masked paths"
    r = run_cli("run", "--rm", image, "sh", "-c",
                " ; ".join(f"echo {p}=$(cat {p} 2>/dev/null | wc -c)$(ls {p} 2>/dev/null | wc -l)" for p in present))
    for line in r.stdout.decode().splitlines():
        path, _, v = line.partition("=")
        assert v in ("00", "01"), line  # empty file, or empty directory
    # and visible again with --privileged
    r = run_cli("run", "--rm", "--privileged", image, "sh", "-c", f"cat {present[0]} | wc -c; ls {present[0]} | wc -l")
    assert any(int(x) > 0 for x in r.stdout.split())


def test_inspect_reports_security_settings(run_cli, engine, image):
    engine.run(image, ["sleep", "60"], name="secure", detach=True, cap_add=["NET_ADMIN"], cap_drop=["MKNOD"],
               security_opt=["no-new-privileges"])
    hc = json.loads(run_cli("inspect", "secure").stdout)[0]["HostConfig"]
    assert hc["CapAdd"] == ["NET_ADMIN"] and hc["CapDrop"] == ["MKNOD"]
    assert hc["SecurityOpt"] == ["no-new-privileges"] and hc["Privileged"] is False
    assert "/proc/kcore" in hc["MaskedPaths"] and "/proc/sys" in hc["ReadonlyPaths"]


@pytest.mark.parametrize("flags,msg", [
    (["--cap-add", "FOO"], b'unknown capability: "CAP_FOO"'),
    (["--security-opt", "apparmor=x"], b"invalid --security-opt"),
])
def test_bad_security_flags(run_cli, engine, image, flags, msg):
    before = len(engine.containers(all_=True))
    r = run_cli("run", "--rm", *flags, image, "true")
    assert r.returncode == 125 and msg in r.stderr
    assert len(engine.containers(all_=True)) == before


def test_default_seccomp_profile_blocks_what_capabilities_do_not(run_cli, image):
    # creating a user namespace needs no capability: only seccomp stops it
    r = run_cli("run", "--rm", image, "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -U true")
    assert r.stdout.split() == [b"Seccomp:", b"2"]
    assert r.returncode != 0 and b"Operation not permitted" in r.stderr
    r = run_cli("run", "--rm", "--security-opt", "seccomp=unconfined", image, "sh", "-c",
                "grep '^Seccomp:' /proc/self/status; unshare -U true && echo made-userns")
    assert r.stdout.split() == [b"Seccomp:", b"0", b"made-userns"], r.stderr


def test_the_filter_compiled_ahead_is_the_one_loaded(engine, image):
    """The fork server compiles docker's default filter once (seccomp.precompile); PID 1
    of a container forked from it loads that program instead of compiling its own:
    the kernel then refuses what the profile blocks (a profile of its own is compiled
    in the container: test_custom_seccomp_profile_file)."""
    import ctypes
    import errno
    from dunnage.core.runtime import seccomp
    from dunnage.core.runtime.capabilities import effective_set
    from dunnage.core.runtime.linux import libc
    caps = effective_set([], [], False)
    seccomp.precompile(caps)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            def compile_again(*_):
                raise AssertionError("compiled again")
            seccomp._compile = compile_again
            seccomp.install(seccomp.DEFAULT, caps)  # what a container's config says
            with open("/proc/self/status") as f:
                mode = [line.split()[1] for line in f if line.startswith("Seccomp:")][0]
            blocked = libc.unshare(0x10000000)  # CLONE_NEWUSER: no capability needed, only seccomp stops it
            err = os.strerror(ctypes.get_errno()) if blocked else ""
            os.write(w, f"{mode}|{blocked}|{err}".encode())
        except BaseException as e:  # noqa: BLE001
            os.write(w, repr(e).encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 1000).decode()
    os.close(r)
    os.waitpid(pid, 0)
    assert out == f"2|-1|{os.strerror(errno.EPERM)}"


def test_capabilities_give_their_syscalls_back(run_cli, image):
    r = run_cli("run", "--rm", "--cap-add", "SYS_ADMIN", image, "sh", "-c",
                "mkdir -p /m && mount -t tmpfs x /m && echo mounted")
    assert r.stdout == b"mounted\n", r.stderr


def test_custom_seccomp_profile_file(run_cli, engine, image, tmp_path):
    prof = tmp_path / "profile.json"
    prof.write_text(json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}))
    r = run_cli("run", "--rm", "--security-opt", f"seccomp={prof}", image, "mkdir", "/made")
    assert r.returncode == 1 and b"Permission denied" in r.stderr
    # the same, and the default profile, in a container whose shim no fork server forked
    # (PID 1 has nothing compiled ahead, and no file of the host's in reach)
    import subprocess
    from conftest import DUNNAGE
    alone = dict(os.environ, DUNNAGE_FORKSERVER="0")
    d = [DUNNAGE, "--root", str(engine.store.root), "run", "--rm", "--network", "none"]
    r = subprocess.run(d + ["--security-opt", f"seccomp={prof}", image, "mkdir", "/made"], env=alone,
                       capture_output=True, timeout=60)
    assert r.returncode == 1 and b"Permission denied" in r.stderr, r.stderr
    r = subprocess.run(d + [image, "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -U true"], env=alone,
                       capture_output=True, timeout=60)
    assert r.stdout.split() == [b"Seccomp:", b"2"] and b"Operation not permitted" in r.stderr, r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    before = len(engine.containers(all_=True))
    r = run_cli("run", "--rm", "--security-opt", f"seccomp={bad}", image, "true")
    assert r.returncode == 125 and b"decoding seccomp profile" in r.stderr
    r = run_cli("run", "--rm", "--security-opt", f"seccomp={tmp_path / 'missing.json'}", image, "true")
    assert r.returncode == 125 and b"opening seccomp profile" in r.stderr
    assert len(engine.containers(all_=True)) == before


def test_host_namespaces_when_asked(run_cli, engine, image):
    import socket
    r = run_cli("run", "--rm", "--pid", "host", image, "sh", "-c", "echo $$; ls /proc")
    pids = [int(x) for x in r.stdout.split() if x.isdigit()]
    assert pids[0] != 1 and os.getpid() in pids[1:]  # the host's processes, this test's among them
    r = run_cli("run", "--rm", "--uts", "host", "--ipc", "host", "--network", "host", image, "sh", "-c",
                "hostname; for n in uts ipc net; do readlink /proc/self/ns/$n; done; cat /proc/net/dev")
    lines = r.stdout.decode().splitlines()
    assert lines[0] == socket.gethostname()
    assert lines[1:4] == [os.readlink(f"/proc/self/ns/{n}") for n in ("uts", "ipc", "net")]
    assert sum(1 for line in lines[4:] if ":" in line) > 1  # more than lo
    # still isolated where not asked: its own mount and pid namespaces
    r = run_cli("run", "--rm", "--network", "host", image, "sh", "-c", "echo $$; readlink /proc/self/ns/mnt")
    pid1, mnt = r.stdout.decode().split()
    assert pid1 == "1" and mnt != os.readlink("/proc/self/ns/mnt")
    for args, msg in ((["--network", "nowhere"], b"network nowhere not found"), (["--pid", "container:x"], b"invalid --pid"),
                      (["--uts", "host", "-h", "named"], b"Conflicting options")):
        r = run_cli("run", "--rm", *args, image, "true")
        assert r.returncode == 125 and msg in r.stderr
