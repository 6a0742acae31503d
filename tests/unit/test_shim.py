"""The shim's pure parts: the restart policy's decisions (core/shim/restart.py) and the
runtime spec it hands PID 1 (core/runtime/spec.py)."""
from __future__ import annotations

import msgpack
import pytest

from dunnage.core.runtime.spec import INIT_BINARY, INIT_PATH, ProcessSpec, RuntimeSpec, limits_of, runtime_spec
from dunnage.core.shim import restart


@pytest.mark.parametrize("policy, code, restarts, stop, again", [
    ({"Name": "no"}, 1, 0, False, False),
    ({}, 1, 0, False, False),
    ({"Name": "always"}, 0, 7, False, True),
    ({"Name": "unless-stopped"}, 0, 0, False, True),
    ({"Name": "always"}, 1, 0, True, False),  # a stop asked for ends any policy
    ({"Name": "on-failure"}, 0, 0, False, False),  # success: done
    ({"Name": "on-failure"}, 3, 100, False, True),  # no count: for ever
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 3, 1, False, True),
    ({"Name": "on-failure", "MaximumRetryCount": 2}, 3, 2, False, False),
])
def test_restart_policies_as_docker(policy, code, restarts, stop, again):
    assert restart.should_restart(policy, code, restarts, stop) is again


def test_back_off_doubles_from_100ms_to_a_minute_and_starts_over_after_10s_of_running():
    step, delays = 0, []
    for _ in range(12):
        step, delay = restart.backoff(step, ran_for=0.5)
        delays.append(delay)
    assert delays[:5] == [0.1, 0.2, 0.4, 0.8, 1.6] and delays[-1] == 60.0
    assert restart.backoff(step, ran_for=11) == (0, 0.1)


CONFIG = {
    "Argv": ["sh", "-c", "echo hi"],
    "Config": {"Hostname": "box", "Env": ["PATH=/bin", "EMPTY", "EQ=a=b"], "WorkingDir": "/srv", "User": "nobody"},
    "HostConfig": {"Init": True, "CapDrop": ["ALL"], "CapAdd": ["CHOWN"], "ReadonlyRootfs": True,
                   "SecurityOpt": ["no-new-privileges"], "PidMode": "host", "NetworkMode": "host",
                   "Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 20}], "GroupAdd": ["audio"],
                   "Mounts": [{"Type": "tmpfs", "Target": "/t"}], "Memory": 1 << 20, "NanoCpus": 500_000_000,
                   "BlkioDeviceWriteBps": [{"Major": 8, "Minor": 0, "Rate": 1024}]},
    "Seccomp": "unconfined",
}


def test_pid1s_spec_from_the_containers_record():
    s = runtime_spec(CONFIG, "/c/merged", "/c", netns_fd=None)
    p = s.process
    assert p.argv == [INIT_PATH, "--", "sh", "-c", "echo hi"]  # --init: tini first
    assert p.env == {"PATH": "/bin", "EMPTY": "", "EQ": "a=b"}
    assert (p.cwd, p.user, p.group_add, p.caps) == ("/srv", "nobody", ["audio"], ["CHOWN"])
    assert p.no_new_privileges and p.seccomp == "unconfined"
    assert (s.rootfs, s.hostname, s.read_only, s.privileged) == ("/c/merged", "box", True, False)
    assert s.binds == [("/c/hostname", "/etc/hostname"), ("/c/hosts", "/etc/hosts"),
                       ("/c/resolv.conf", "/etc/resolv.conf"), (INIT_BINARY, INIT_PATH)]
    assert s.host_namespaces == ["pid", "net"] and s.ulimits == CONFIG["HostConfig"]["Ulimits"]


def test_the_runtime_spec_survives_msgpack():
    s = runtime_spec(CONFIG, "/c/merged", "/c", netns_fd=7)
    back = RuntimeSpec.from_record(msgpack.unpackb(msgpack.packb(s.to_record())))
    assert back == s and isinstance(back.process, ProcessSpec) and back.netns_fd == 7


def test_cgroup_limits_of_a_host_config():
    lim = limits_of(CONFIG["HostConfig"])
    assert (lim.memory, lim.cpu_quota, lim.device_write_bps) == (1 << 20, 50_000, [(8, 0, 1024)])
    assert lim.devices  # docker's default device rules unless --privileged
    assert limits_of({"Privileged": True}).devices is None
