"""An OCI bundle's config.json onto the runtime's spec (core/runtime/bundle.py): pure, no root."""
import pytest

from dunnage.core.runtime import bundle
from dunnage.core.runtime.linux import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_PRIVATE, MS_RDONLY, MS_REC
from dunnage.core.runtime.rootfs import mount_options

PODMAN = {  # the shape of what podman 4.3 hands runc here (trimmed)
    "ociVersion": "1.0.2-dev",
    "process": {"user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [10]}, "args": ["sh", "-c", "true"],
                "env": ["PATH=/usr/bin:/bin", "TERM=xterm", "HOME=/root"], "cwd": "/",
                "capabilities": {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_CHOWN", "CAP_KILL"],
                                 "permitted": ["CAP_CHOWN", "CAP_KILL"]},
                "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}], "oomScoreAdj": 0},
    "root": {"path": "rootfs"}, "hostname": "abc",
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
               {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["ro"]}],
    "linux": {"sysctl": {"net.ipv4.ping_group_range": "0 0"},
              "resources": {"devices": [{"allow": False, "access": "rwm"}], "pids": {"limit": 2048},
                            "memory": {"limit": 67108864}, "cpu": {"quota": 50000, "period": 100000}},
              "cgroupsPath": "/libpod_parent/libpod-abc",
              "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}],
              "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
              "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}},
}


def _bundle(tmp_path, **changes):
    import copy
    c = copy.deepcopy(PODMAN)
    for k, v in changes.items():
        c[k] = v
    (tmp_path / "rootfs").mkdir(exist_ok=True)
    return bundle.from_config(c, str(tmp_path), "abc")


def test_podmans_config_maps_onto_the_runtime_spec(tmp_path):
    b = _bundle(tmp_path)
    s = b.spec
    assert s.process.argv == ["sh", "-c", "true"] and s.process.user == "0:0" and s.process.groups == [10]
    assert s.process.caps == ["CHOWN", "KILL"] and s.process.umask == 18
    assert s.process.seccomp["defaultAction"] == "SCMP_ACT_ERRNO"
    assert s.rootfs == str(tmp_path / "rootfs") and s.hostname == "abc"
    assert s.host_namespaces == ["cgroup"]  # no cgroup namespace asked for: the host's, as runc
    assert s.ulimits == [{"Name": "nofile", "Soft": 1024, "Hard": 1024}]
    assert s.sysctl == {"net.ipv4.ping_group_range": "0 0"} and s.oom_score_adj == 0
    assert s.masked_paths == ["/proc/kcore"] and s.readonly_paths == ["/proc/sys"]
    assert b.cgroups_path == "libpod_parent/libpod-abc" and b.new_pid_namespace
    assert b.limits.memory == 67108864 and b.limits.pids == 2048 and b.limits.cpu_quota == 50000
    assert "c 1:3 rwm" in b.limits.devices  # runc's allowed devices after the bundle's deny-all


def test_a_user_namespace_and_its_mappings(tmp_path):
    """linux.uidMappings and gidMappings reach the runtime spec with a user namespace (none without)."""
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}, {"containerID": 70000, "hostID": 5, "size": 1}]
    b = _bundle(tmp_path, linux={"namespaces": [{"type": "mount"}, {"type": "user"}],
                                 "uidMappings": maps, "gidMappings": maps[:1]})
    assert b.spec.uid_mappings == maps and b.spec.gid_mappings == maps[:1]
    assert _bundle(tmp_path).spec.uid_mappings is None


@pytest.mark.parametrize("change, message", [
    ({"ociVersion": "0.9"}, "ociVersion"),
    ({"root": {}}, "root.path"),
    ({"process": {"args": []}}, "process.args"),
    ({"linux": {"namespaces": [{"type": "pid"}]}}, "mount namespace"),
    ({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}]}}, "user namespaces enabled, but no uid mappings"),
    ({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}],
                "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}, "no gid mappings"),
    ({"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}], "uidMappings": [{"hostID": 1}],
                "gidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}}, "linux.uidMappings: each mapping"),
    ({"linux": {"namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]}},
     "joining a user namespace by path"),
    ({"linux": {"namespaces": [{"type": "mount"}], "uidMappings": [{"hostID": 1}]}},
     "user namespace mappings specified, but user namespace isn't enabled"),
    ({"linux": {"namespaces": [{"type": "mount"}], "cgroupsPath": "system.slice:libpod:abc"}}, "systemd"),
    ({"linux": {"namespaces": [{"type": "mount"}], "intelRdt": {"closID": "x"}}}, "Intel RDT"),
    ({"mounts": [{"destination": "relative", "type": "tmpfs"}]}, "absolute"),
    ({"hooks": {"prestart": [{"path": "relative"}]}}, "absolute"),
])
def test_refusals_name_the_field(tmp_path, change, message):
    with pytest.raises(bundle.BundleError, match=message):
        _bundle(tmp_path, **change)


def test_mount_options_as_runc_reads_them():
    assert mount_options(["nosuid", "noexec", "nodev"]) == (MS_NOSUID | MS_NOEXEC | MS_NODEV, 0, False, "")
    assert mount_options(["rbind", "ro", "rprivate"]) == (MS_BIND | MS_REC | MS_RDONLY, MS_PRIVATE | MS_REC, True, "")
    assert mount_options(["mode=755", "size=65536k", "rw"]) == (0, 0, False, "mode=755,size=65536k")
    assert mount_options(["ro", "rw"])[0] == 0  # later options win
