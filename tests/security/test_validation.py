"""Bad values of run/create flags (issue 16, item 15): one line on stderr, exit
125 as docker, nothing created; a hostname cannot add lines to /etc/hosts."""
from __future__ import annotations

import pytest

from dunnage.core.spec import valid_hostname
from dunnage.core.units import UnitError, parse_cpus, parse_size

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("args, message", [
    (["-m", "99999999999g"], "out of range"),
    (["--memory", "1" * 5000], "out of range"),
    (["-m", "10m", "--memory-swap", "99999999999999g"], "out of range"),
    (["--cpus", "inf"], "failed to parse inf as a rational number"),
    (["--cpus", "nan"], "failed to parse nan as a rational number"),
    (["--cpus", "1e400"], "range of CPUs"),
    (["--cpus", "1e999999999"], "out of range"),
    (["--cpus", "0.0000000001"], "too precise"),
    (["--stop-signal", "SIGBOGUS"], "invalid signal: SIGBOGUS"),
    (["-u", "99999999999"], "uids and gids must be in range 0-2147483647"),
    (["-u", "1:99999999999"], "uids and gids must be in range 0-2147483647"),
    (["--pids-limit", "99999999999999999999"], "value out of range"),
    (["--stop-timeout", "99999999999999999999"], "value out of range"),
    (["-h", "x\n6.6.6.6 evil"], "invalid hostname format"),
    (["-h", "a b"], "invalid hostname format"),
    (["--hostname=-lead"], "invalid hostname format"),
    (["-h", "a" * 64], "invalid hostname format"),
    (["--add-host", "a\n6.6.6.6 evil:1.2.3.4"], "invalid --add-host"),
    (["--add-host", "a b:1.2.3.4"], "invalid --add-host"),
    (["--add-host", ":1.2.3.4"], "invalid --add-host"),
    (["--dns-search", "x\nnameserver 6.6.6.6"], "is not a valid domain"),
    (["--dns-search", "a..b"], "is not a valid domain"),
    (["--dns-option", "ndots:1\nnameserver 6.6.6.6"], "invalid argument"),
])
def test_bad_values_are_one_line_errors_and_create_nothing(run_cli, image, args, message):
    before = run_cli("ps", "-aq", "--no-trunc").stdout
    p = run_cli("create", *args, image, "true", timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 125, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert message in err
    assert run_cli("ps", "-aq", "--no-trunc").stdout == before


def test_a_good_hostname_is_in_etc_hosts_alone(run_cli, image):
    p = run_cli("run", "--rm", "-h", "web-1.example", image, "cat", "/etc/hosts", "/etc/hostname", timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()
    assert "web-1.example\n" in out and out.count("web-1.example") == 2


@pytest.mark.parametrize("name, ok", [
    ("a", True), ("web-1", True), ("a.b.c", True), ("A1-b2.C3", True), ("a" * 63, True),
    ("", False), ("a" * 64, False), ("-a", False), ("a-", False), ("a..b", False), (".a", False),
    ("a_b", False), ("a b", False), ("a\nb", False), ("a\tb", False), ("é", False),
])
def test_hostnames_as_docker_checks_them(name, ok):
    assert valid_hostname(name) is ok


def test_cpus_are_exact_rationals():
    assert parse_cpus("0.5") == 500_000_000
    assert parse_cpus("1.000000001") == 1_000_000_001
    assert parse_cpus("2") == 2_000_000_000
    for bad in ("inf", "-inf", "nan", "abc", "-1", "0.0000000001", "1e99999"):
        with pytest.raises(UnitError):
            parse_cpus(bad)


def test_sizes_stay_within_64_bits():
    assert parse_size("64m") == 64 << 20
    assert parse_size("1.5g") == 3 << 29
    assert parse_size("8191p") == 8191 << 50
    for bad in ("8192p", "99999999999g", "9" * 5000):
        with pytest.raises(UnitError):
            parse_size(bad)


IO_URING_PROBE = r"""
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    char params[120];
    memset(params, 0, sizeof params);
    long fd = syscall(__NR_io_uring_setup, 1, params);
    printf("setup=%s\n", fd >= 0 ? "ok" : strerror(errno));
    printf("enter=%s\n", syscall(__NR_io_uring_enter, -1, 0, 0, 0, NULL, 0) == 0 ? "ok" : strerror(errno));
    printf("register=%s\n", syscall(__NR_io_uring_register, -1, 0, NULL, 0) == 0 ? "ok" : strerror(errno));
    return 0;
}
"""


@pytest.fixture
def io_uring_probe(tmp_path):
    src = tmp_path / "probe.c"
    src.write_text(IO_URING_PROBE)
    exe = tmp_path / "probe"
    import subprocess
    subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(src)], check=True, timeout=60)
    return exe


def test_the_default_seccomp_profile_blocks_io_uring(engine, image, io_uring_probe):
    out = {}
    for opts in ([], ["seccomp=unconfined"]):
        c = engine.create(image, ["/probe"], security_opt=opts, detach=True)
        engine.copy_to(c.id, str(io_uring_probe), "/probe")
        engine.start(c.id)
        assert engine.wait(c.id, 30) == 0
        out[bool(opts)] = b"".join(d for _, _, d in engine.logs(c.id)).decode()
    assert out[True].startswith("setup=ok\n") and "not permitted" not in out[True]  # the kernel has it
    assert out[False] == "setup=Operation not permitted\nenter=Operation not permitted\nregister=Operation not permitted\n"


def test_good_dns_search_options_and_extra_hosts_are_one_line_each(run_cli, image):
    p = run_cli("run", "--rm", "--network", "none", "--dns-search", "example.com", "--dns-search", ".",
                "--dns-option", "ndots:2", "--add-host", "db.local:10.1.2.3", image,
                "cat", "/etc/resolv.conf", "/etc/hosts", timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode().splitlines()
    assert "options ndots:2" in out and any(line.split() == ["10.1.2.3", "db.local"] for line in out)
    assert not any("6.6.6.6" in line for line in out)


def test_exec_user_out_of_range_is_one_line(run_cli, engine, image):
    engine.run(image, ["sleep", "300"], name="exec-range", detach=True)
    p = run_cli("exec", "-u", "99999999999", "exec-range", "id", timeout=30)
    err = p.stderr.decode()
    assert p.returncode == 125 and err.strip().splitlines() == [
        "dunnage: Error: invalid user '99999999999': uids and gids must be in range 0-2147483647"], err
    assert run_cli("exec", "-u", "1000:1000", "exec-range", "id", "-u", timeout=30).stdout == b"1000\n"
