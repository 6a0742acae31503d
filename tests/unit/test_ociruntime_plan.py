"""dunnage-runtime's served create and warm server, the pure parts: the init's plan as plain
data (ociruntime/initfork.py), where the init writes itself into its groups, and the
server's watch on its code (ociruntime/server.py)."""
import marshal

from dunnage.core.cgroups import CgroupV1, CgroupV2
from dunnage.core.runtime.spec import ProcessSpec, RuntimeSpec
from dunnage.ociruntime import initfork
from dunnage.ociruntime.server import CodeWatch


def test_the_plans_spec_reads_as_the_runtime_spec():
    spec = RuntimeSpec(process=ProcessSpec(argv=["sh", "-c", "true"], env={"PATH": "/bin"}, caps=["CHOWN"],
                                           seccomp=b"\x06\x00\x00\x00\x00\x00\xff\x7f", umask=0o22),
                       rootfs="/b/rootfs", hostname="h", binds=[("/etc/hosts", "/etc/hosts")],
                       oci_mounts=[{"destination": "/proc", "type": "proc"}], namespace_paths={"network": "/n"},
                       sysctl={"net.ipv4.ping_group_range": "0 0"}, exec_fifo="/s/c/exec.fifo")
    got = initfork.spec_of(marshal.loads(marshal.dumps(spec.to_record())))  # as it crosses the socket
    for name in ("rootfs", "hostname", "binds", "oci_mounts", "namespace_paths", "sysctl", "exec_fifo", "ulimits",
                 "host_namespaces", "netns_fd", "masked_paths", "readonly_paths", "rootfs_propagation", "devices"):
        assert getattr(got, name) == getattr(spec, name), name
    for name in ("argv", "env", "caps", "seccomp", "umask", "cwd", "user", "group_add", "no_new_privileges",
                 "cap_sets", "session_keyring"):
        assert getattr(got.process, name) == getattr(spec.process, name), name
    assert got.binds == [("/etc/hosts", "/etc/hosts")]


def test_the_init_joins_v1_groups_through_tasks():
    v1 = CgroupV1("libpod_parent/c1", mounts={"pids": "/sys/fs/cgroup/pids", "memory": "/sys/fs/cgroup/memory"})
    assert sorted(initfork.join_files(v1)) == ["/sys/fs/cgroup/memory/libpod_parent/c1/tasks",
                                               "/sys/fs/cgroup/pids/libpod_parent/c1/tasks"]
    v2 = CgroupV2("libpod_parent/c1", root="/sys/fs/cgroup")
    assert initfork.join_files(v2) == ["/sys/fs/cgroup/libpod_parent/c1/cgroup.procs"]


def test_code_watch_sees_source_files_change_and_nothing_else(tmp_path):
    (tmp_path / "verb.py").write_text("x = 1\n")
    watch = CodeWatch([str(tmp_path)])
    assert watch.fd is not None and not watch.changed()
    (tmp_path / "__pycache__").mkdir()  # compiled code written next to the source
    (tmp_path / ".verb.py.swp").write_text("")  # an editor's
    (tmp_path / "notes.txt").write_text("")
    assert not watch.changed()
    (tmp_path / "verb.py").write_text("x = 2\n")
    assert watch.changed()
    assert not watch.changed()  # (seen once)
    (tmp_path / "seccomp_default.json").write_text("{}")
    assert watch.changed()
    (tmp_path / "sub").mkdir()  # a new package
    assert watch.changed()


def test_a_bundles_five_capability_sets_reach_the_plan(tmp_path):
    """process.capabilities' five sets are kept as given (the init applies them for any
    user, as runc does), not folded into the bounding set."""
    import json
    from dunnage.core.runtime import bundle as bundles
    (tmp_path / "rootfs").mkdir()
    caps = {"bounding": ["CAP_KILL", "CAP_NET_RAW"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
            "inheritable": ["CAP_NET_RAW"], "ambient": ["CAP_KILL"]}
    config = {"ociVersion": "1.0.2", "root": {"path": "rootfs"},
              "process": {"args": ["sh"], "user": {"uid": 1000, "gid": 1000}, "capabilities": caps},
              "linux": {"namespaces": [{"type": "mount"}]}}
    b = bundles.from_config(json.loads(json.dumps(config)), str(tmp_path), "c1")
    assert b.spec.process.caps == ["KILL", "NET_RAW"]
    assert b.spec.process.cap_sets == {k: [c[4:] for c in v] for k, v in caps.items()}
    got = initfork.spec_of(marshal.loads(marshal.dumps(b.spec.to_record())))
    assert got.process.cap_sets == b.spec.process.cap_sets
    assert b.warnings == []


def test_resources_not_applied_are_named():
    from dunnage.core.runtime.bundle import unapplied
    res = {"memory": {"limit": 1 << 26, "swappiness": 10, "disableOOMKiller": False}, "cpu": {"shares": 512, "mems": "0"},
           "pids": {"limit": 9}, "blockIO": {"weight": 100, "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 5}]},
           "devices": [{"allow": False, "access": "rwm"}], "rdma": {"mlx": {"hcaHandles": 1}}, "unified": {}}
    assert unapplied(res, hugetlb=False) == [
        "linux.resources.memory.swappiness is not applied by dunnage-runtime: ignored",
        "linux.resources.cpu.mems is not applied by dunnage-runtime: ignored",
        "linux.resources.blockIO.throttleReadIOPSDevice is not applied by dunnage-runtime: ignored",
        "linux.resources.rdma is not applied by dunnage-runtime: ignored"]
    huge = {"hugepageLimits": [{"pageSize": "2MB", "limit": 1 << 21}]}
    assert unapplied(huge, hugetlb=False) == [
        "linux.resources.hugepageLimits is not applied: this host has no hugetlb cgroup controller"]


def test_exec_arguments_start_from_the_containers_process(tmp_path):
    """runc's exec without --process: the container's process object, with the command,
    --cwd, --env (appended), --user (uid[:gid]), --additional-gids (appended) and --cap
    (into every set but the inheritable one) over it."""
    import json
    from dunnage.ociruntime.cli import parser_for
    from dunnage.ociruntime.exec import process_from
    base = {"args": ["sleep", "1"], "env": ["PATH=/bin"], "cwd": "/", "user": {"uid": 0, "gid": 7, "additionalGids": [3]},
            "capabilities": {k: ["CAP_KILL"] for k in ("bounding", "effective", "permitted", "inheritable", "ambient")},
            "noNewPrivileges": True, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 9}]}
    (tmp_path / "config.json").write_text(json.dumps({"process": base}))
    a = parser_for("exec").parse_args(["exec", "--cwd", "/tmp", "-e", "A=1", "-u", "1000", "-g", "5",
                                       "--cap", "CAP_NET_RAW", "c1", "sh", "-c", "id"])
    p = process_from(a, str(tmp_path))
    assert p["args"] == ["sh", "-c", "id"] and p["cwd"] == "/tmp" and p["env"] == ["PATH=/bin", "A=1"]
    assert p["user"] == {"uid": 1000, "gid": 7, "additionalGids": [3, 5]}
    assert p["capabilities"]["inheritable"] == ["CAP_KILL"]
    assert all(p["capabilities"][k] == ["CAP_KILL", "CAP_NET_RAW"] for k in ("bounding", "effective", "permitted", "ambient"))
    assert p["noNewPrivileges"] and p["rlimits"] == base["rlimits"] and p["terminal"] is False
