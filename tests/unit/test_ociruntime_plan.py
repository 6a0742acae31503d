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
    for name in ("argv", "env", "caps", "seccomp", "umask", "cwd", "user", "group_add", "no_new_privileges"):
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
