"""The create request (core/spec.py): what run/create's flags and the Engine API's
POST /containers/create body make of it, docker's defaults, and docker's refusals,
whichever front the request came from.  No root: nothing here touches the kernel."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from dunnage.core.errors import EngineError
from dunnage.core.spec import ContainerSpec, Healthcheck, exposed_of, host_record

# The body docker 20.10's CLI sends for `docker create busybox` (moby api/swagger.yaml's
# ContainerConfig with HostConfig and NetworkingConfig in it; the fields dunnage has no
# use for are there too, as the CLI sends them).
CREATE_DEFAULT = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False, "AttachStdout": True,
    "AttachStderr": True, "Tty": False, "OpenStdin": False, "StdinOnce": False, "Env": [], "Cmd": None,
    "Image": "busybox", "Volumes": {}, "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": {},
    "HostConfig": {
        "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}}, "NetworkMode": "default",
        "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": False,
        "VolumeDriver": "", "VolumesFrom": None, "CapAdd": None, "CapDrop": None, "CgroupnsMode": "",
        "Dns": [], "DnsOptions": [], "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "",
        "Cgroup": "", "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
        "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "", "UsernsMode": "",
        "ShmSize": 0, "ConsoleSize": [0, 0], "Isolation": "", "CpuShares": 0, "Memory": 0, "NanoCpus": 0,
        "CgroupParent": "", "BlkioWeight": 0, "BlkioWeightDevice": [], "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [], "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0,
        "CpuQuota": 0, "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
        "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "KernelMemory": 0,
        "KernelMemoryTCP": 0, "MemoryReservation": 0, "MemorySwap": 0, "MemorySwappiness": None,
        "OomKillDisable": False, "PidsLimit": None, "Ulimits": None, "CpuCount": 0, "CpuPercent": 0,
        "IOMaximumIOps": 0, "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None},
    "NetworkingConfig": {"EndpointsConfig": {}},
}


def _cli_body(config: dict, host: dict, endpoints: dict | None = None) -> dict:
    body = copy.deepcopy(CREATE_DEFAULT)
    body.update(config)
    body["HostConfig"].update(host)
    if endpoints:
        body["NetworkingConfig"]["EndpointsConfig"] = endpoints
    return body


# `docker create --name web -e A=1 -e B=2 -p 8080:80 -p 127.0.0.1::53/udp --expose 22 -v /data
#  -v /srv:/srv:ro -v cache:/cache --tmpfs /run:size=65536k --mount type=tmpfs,target=/scratch
#  -m 64m --memory-swap 128m --cpus 0.5 --cpu-shares 512 --pids-limit 100 --ulimit nofile=100:200
#  --restart on-failure:3 --log-opt max-size=1m --log-opt max-file=2 --health-cmd true
#  --health-interval 5s --health-retries 2 -u 1000:1000 -w /srv -h web --label a=b --stop-signal USR1
#  --stop-timeout 7 --cap-add NET_ADMIN --cap-drop CHOWN --read-only --dns 1.1.1.1 --dns-search example.org
#  --dns-option ndots:1 --add-host db:10.0.0.2 --security-opt no-new-privileges --group-add 10 -it
#  busybox sleep 60`, as the CLI sends it
FULL_FLAGS = dict(
    env=["A=1", "B=2"], publish=["8080:80", "127.0.0.1::53/udp"], expose=["22"],
    volumes=["/data", "/srv:/srv:ro", "cache:/cache"], tmpfs=["/run:size=65536k"],
    mounts=["type=tmpfs,target=/scratch"], memory="64m", memory_swap="128m", cpus="0.5", cpu_shares=512,
    pids_limit=100, ulimits=["nofile=100:200"], restart="on-failure:3", log_opts=["max-size=1m", "max-file=2"],
    health={"cmd": "true", "interval": "5s", "timeout": None, "retries": 2, "start_period": None},
    user="1000:1000", workdir="/srv", hostname="web", labels=["a=b"], stop_signal="USR1", stop_timeout=7,
    cap_add=["NET_ADMIN"], cap_drop=["CHOWN"], read_only=True, dns=["1.1.1.1"], dns_search=["example.org"],
    dns_options=["ndots:1"], add_hosts=["db:10.0.0.2"], security_opt=["no-new-privileges"], group_add=["10"],
    tty=True, interactive=True, detach=True, attach=True)
FULL_BODY = _cli_body(
    {"Hostname": "web", "User": "1000:1000", "AttachStdin": True, "Tty": True, "OpenStdin": True,
     "StdinOnce": True, "Env": ["A=1", "B=2"], "Cmd": ["sleep", "60"], "Volumes": {"/data": {}},
     "WorkingDir": "/srv", "Labels": {"a": "b"}, "StopSignal": "USR1", "StopTimeout": 7,
     "ExposedPorts": {"22/tcp": {}, "80/tcp": {}, "53/udp": {}},
     "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}},
    {"Binds": ["/srv:/srv:ro", "cache:/cache"], "LogConfig": {"Type": "", "Config": {"max-size": "1m", "max-file": "2"}},
     "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "53/udp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
     "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}, "CapAdd": ["NET_ADMIN"], "CapDrop": ["CHOWN"],
     "Dns": ["1.1.1.1"], "DnsOptions": ["ndots:1"], "DnsSearch": ["example.org"], "ExtraHosts": ["db:10.0.0.2"],
     "GroupAdd": ["10"], "ReadonlyRootfs": True, "SecurityOpt": ["no-new-privileges"],
     "Tmpfs": {"/run": "size=65536k"}, "CpuShares": 512, "Memory": 64 << 20, "NanoCpus": 500_000_000,
     "MemorySwap": 128 << 20, "PidsLimit": 100, "Ulimits": [{"Name": "nofile", "Hard": 200, "Soft": 100}],
     "Mounts": [{"Type": "tmpfs", "Target": "/scratch"}]})


def _empty(v) -> bool:
    return v in (None, [], {}, "", 0, False)


def _agrees(ours: dict, theirs: dict, where: str = "") -> None:
    """Every field to_docker() writes has the CLI body's value (null and empty alike, as
    dockerd reads them)."""
    for k, v in ours.items():
        t = theirs.get(k)
        if isinstance(v, dict) and isinstance(t, dict) and k not in ("Labels", "ExposedPorts", "Volumes", "Tmpfs"):
            _agrees(v, t, f"{where}{k}.")
        elif not (_empty(v) and _empty(t)):
            assert v == t, f"{where}{k}: {v!r} != {t!r}"


# ------------------------------------------------------------ docker's JSON
def test_the_cli_default_body_reads_as_dockers_defaults():
    spec = ContainerSpec.from_docker(CREATE_DEFAULT)
    assert spec.config.image == "busybox" and spec.config.cmd is None and spec.config.entrypoint is None
    hc = host_record(spec.host)
    assert hc["NetworkMode"] == "bridge" and hc["IpcMode"] == "private" and hc["PidMode"] == "" and hc["UTSMode"] == ""
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["Memory"] == 0 and hc["NanoCpus"] == 0 and hc["PidsLimit"] is None and "MemorySwap" not in hc
    assert hc["LogConfig"]["Type"] == "dunnage-msgpack" and hc["LogConfig"]["MaxSize"] > 0  # bounded, as local's
    assert hc["PortBindings"] is None and hc["Ulimits"] is None and hc["CapAdd"] is None
    _agrees(spec.to_docker(), CREATE_DEFAULT)


def test_a_full_cli_body_round_trips():
    spec = ContainerSpec.from_docker(FULL_BODY, name="/web")
    spec.validate()
    assert spec.name == "web"
    out = spec.to_docker()
    _agrees(out, FULL_BODY)
    again = ContainerSpec.from_docker(out)
    assert again.to_docker() == out and again.host == spec.host and again.config == spec.config


def test_the_flags_and_the_cli_body_make_the_same_request():
    """docker run's flags here, and the body docker's CLI sends for them to the API: one request."""
    flags = ContainerSpec.from_flags("busybox", ["sleep", "60"], name="web", **FULL_FLAGS)
    body = ContainerSpec.from_docker(FULL_BODY, name="web")
    assert host_record(flags.host) == host_record(body.host)
    assert flags.config.healthcheck == body.config.healthcheck == Healthcheck(
        ["CMD-SHELL", "true"], interval=5_000_000_000, retries=2)
    assert sorted(exposed_of(flags)) == sorted(exposed_of(body))
    assert flags.networking == body.networking
    assert sorted(m.record["Target"] for m in flags.host.mounts) == sorted(m.record["Target"] for m in body.host.mounts)
    _agrees(flags.to_docker(), FULL_BODY)


def test_ports_ranges_and_endpoints_in_dockers_shape():
    spec = ContainerSpec.from_flags("busybox", None, publish=["7000-7001:80-81", "9000-9010:90"], network="appnet",
                                    ip="10.9.0.5", network_aliases=["db"])
    out = spec.to_docker()
    assert out["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "7000"}], "81/tcp": [{"HostIp": "", "HostPort": "7001"}],
        "90/tcp": [{"HostIp": "", "HostPort": "9000-9010"}]}
    assert out["NetworkingConfig"] == {"EndpointsConfig": {"appnet": {"Aliases": ["db"],
                                                                      "IPAMConfig": {"IPv4Address": "10.9.0.5"}}}}
    back = ContainerSpec.from_docker(out)
    assert back.host.port_bindings == spec.host.port_bindings and back.networking == spec.networking
    assert back.host.network_mode == "appnet"


def test_an_api_entrypoint_of_one_empty_string_resets_the_images():
    """docker's CLI sends --entrypoint "" as [""]: no entrypoint, the image's CMD kept."""
    assert ContainerSpec.from_docker(_cli_body({"Entrypoint": [""]}, {})).config.entrypoint == []
    assert ContainerSpec.from_flags("busybox", None, entrypoint="").config.entrypoint == []
    assert ContainerSpec.from_docker(_cli_body({"Entrypoint": "sh"}, {})).config.entrypoint == ["sh"]


# -------------------------------------------------------------- validation
def _refused(spec: ContainerSpec, match: str) -> None:
    with pytest.raises(EngineError, match=match) as e:
        spec.validate()
    assert e.value.code == 125


@pytest.mark.parametrize("flags, msg", [
    (dict(memory="1k"), "Minimum memory limit allowed is 6MB"),
    (dict(cpus="100000"), "range of CPUs is from 0.01 to"),
    (dict(restart="sometimes"), r"invalid restart policy: sometimes \(no, always"),
    (dict(restart="always:3"), "invalid restart policy: always:3"),
    (dict(log_opts=["max-size"]), 'invalid --log-opt: "max-size"'),
    (dict(ulimits=["nofile=10:5"]), "soft limit must be less than or equal to hard limit: 10 > 5"),
    (dict(labels=["=v"]), 'invalid label: "=v"'),
    (dict(memory_swap="lots"), "invalid --memory-swap"),
    (dict(publish=["99999:80"]), "invalid host port range"),
    (dict(volumes=["relative:dir"]), "invalid volume specification"),
])
def test_the_flags_grammars_refuse_with_dockers_message(flags, msg):
    with pytest.raises(EngineError, match=msg) as e:
        ContainerSpec.from_flags("busybox", None, **flags)
    assert e.value.code == 125


@pytest.mark.parametrize("flags, msg", [
    (dict(auto_remove=True, restart="always"), "conflicting options: cannot specify both --restart and --rm"),
    (dict(hostname="a b"), "invalid hostname format"),
    (dict(hostname="web", network="host"), "Conflicting options: hostname and the UTS mode"),
    (dict(name="-bad"), r"Invalid container name \(-bad\)"),
    (dict(env=["=x"]), "invalid environment variable: =x"),
    (dict(log_opts=["max-file=0"]), 'invalid --log-opt: "max-file=0"'),
    (dict(log_opts=["mode=blocking"]), 'invalid --log-opt: "mode=blocking"'),
    (dict(stop_signal="NOPE"), "invalid signal: NOPE"),
    (dict(user="99999999999"), "uids and gids must be in range"),
    (dict(user="a b"), 'invalid user: "a b"'),
    (dict(security_opt=["apparmor=x"]), 'invalid --security-opt: "apparmor=x"'),
    (dict(cap_add=["NOT_A_CAP"]), "invalid capability"),
    (dict(ipc_mode="shareable"), 'invalid --ipc: "shareable"'),
    (dict(ip="10.0.0.2"), "user specified IP address is supported only for containers in user defined networks"),
    (dict(network_aliases=["x"]), "network-scoped alias is supported only"),
    (dict(publish=["80"], network="container:other"), "conflicting options: port publishing"),
    (dict(publish=["8080:80", "8080:81"]), "Bind for 0.0.0.0:8080 failed: port is already allocated"),
    (dict(dns=["example.org"]), "invalid --dns: example.org is not an IP address"),
    (dict(add_hosts=["a\nb:1.2.3.4"]), "invalid --add-host"),
    (dict(dns_search=["bad domain"]), "for --dns-search"),
    (dict(dns_options=["a\nb"]), "for --dns-option"),
    (dict(memory_swap="64m"), "You should always set the Memory limit when using Memoryswap limit"),
    (dict(memory="64m", memory_swap="32m"), "Minimum memoryswap limit should be larger than memory limit"),
    (dict(cpu_shares=1), "invalid --cpu-shares 1: between 2 and 262144"),
    (dict(blkio_weight=5), "invalid --blkio-weight 5: between 10 and 1000"),
    (dict(cpuset_cpus="0-"), 'invalid --cpuset-cpus "0-"'),
    (dict(cpuset_cpus="4096"), "Requested CPUs are not available"),
    (dict(pids_limit=1 << 63), "value out of range"),
    (dict(volumes=["/a:/x", "/b:/x"]), "Duplicate mount point: /x"),
    (dict(volumes_from=["other:rx"]), 'invalid --volumes-from "other:rx"'),
    (dict(health={"cmd": "true", "retries": -1}), "--health-retries cannot be negative"),
])
def test_validate_refuses_with_dockers_message(flags, msg):
    _refused(ContainerSpec.from_flags("busybox", ["true"], **flags), msg)


@pytest.mark.parametrize("config, host, msg", [
    ({}, {"Memory": 1024}, "Minimum memory limit allowed is 6MB"),
    ({}, {"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy: sometimes"),
    ({}, {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}, "invalid restart policy: always:2"),
    ({}, {"AutoRemove": True, "RestartPolicy": {"Name": "unless-stopped"}}, "cannot specify both --restart and --rm"),
    ({}, {"CpuShares": 1}, "invalid --cpu-shares 1"),
    ({}, {"Ulimits": [{"Name": "nofile", "Soft": 10, "Hard": 5}]}, "10 > 5"),
    ({}, {"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit argument"),
    ({}, {"LogConfig": {"Type": "syslog", "Config": {}}}, 'invalid --log-driver: "syslog"'),
    ({}, {"LogConfig": {"Type": "", "Config": {"max-size": "-1"}}}, 'invalid --log-opt: "max-size=-1"'),
    ({}, {"ExtraHosts": ["h:not-an-ip"]}, "invalid --add-host"),
    ({}, {"PortBindings": {"80/tcp": [{"HostPort": "70000"}]}}, "invalid host port range"),
    ({}, {"Mounts": [{"Type": "bind", "Source": "/no/such/dir/here", "Target": "/x"}]}, "bind source path does not exist"),
    ({}, {"Mounts": [{"Type": "npipe", "Target": "/x"}]}, "type must be bind, volume or tmpfs"),
    ({"Hostname": "-x"}, {}, "invalid hostname format"),
    ({"Env": ["=x"]}, {}, "invalid environment variable"),
    ({"StopSignal": "SIGNOPE"}, {}, "invalid signal: SIGNOPE"),
    ({"Healthcheck": {"Test": ["CMD", False]}}, {}, "cannot unmarshal bool into Go struct field"),
])
def test_an_api_body_is_refused_as_the_flags_are(config, host, msg):
    """The API's values go through the same checks, with the same messages."""
    with pytest.raises(EngineError, match=msg) as e:
        ContainerSpec.from_docker(_cli_body(config, host)).validate()
    assert e.value.code == 125


def test_a_body_that_is_not_dockers_shape_is_one_error():
    for body in ([], {"HostConfig": {"Memory": "lots"}}, {"HostConfig": {"PortBindings": ["80"]}}):
        with pytest.raises(EngineError, match="invalid create request") as e:
            ContainerSpec.from_docker(body)
        assert e.value.code == 125


def test_an_unknown_flag_is_a_type_error_as_for_a_function():
    with pytest.raises(TypeError, match="memroy"):
        ContainerSpec.from_flags("busybox", None, memroy="64m")


FULL_ARGV = [
    "--name", "web", "-e", "A=1", "-e", "B=2", "-p", "8080:80", "-p", "127.0.0.1::53/udp", "--expose", "22",
    "-v", "/data", "-v", "/srv:/srv:ro", "-v", "cache:/cache", "--tmpfs", "/run:size=65536k",
    "--mount", "type=tmpfs,target=/scratch", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5",
    "--cpu-shares", "512", "--pids-limit", "100", "--ulimit", "nofile=100:200", "--restart", "on-failure:3",
    "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "--health-cmd", "true", "--health-interval", "5s",
    "--health-retries", "2", "-u", "1000:1000", "-w", "/srv", "-h", "web", "--label", "a=b",
    "--stop-signal", "USR1", "--stop-timeout", "7", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN",
    "--read-only", "--dns", "1.1.1.1", "--dns-search", "example.org", "--dns-option", "ndots:1",
    "--add-host", "db:10.0.0.2", "--security-opt", "no-new-privileges", "--group-add", "10", "-it",
    "busybox", "sleep", "60"]


def test_the_command_line_builds_the_request_the_docker_cli_sends():
    """`dunnage create FLAGS` and `docker create FLAGS` sent to the Engine API: one request."""
    from dunnage.tui.cli import build_parser
    from dunnage.tui.commands.run import spec_from_args
    a = build_parser().parse_args(["create", *FULL_ARGV])
    ours = spec_from_args(a, detach=True, attach=True)
    ours.validate()
    theirs = ContainerSpec.from_docker(FULL_BODY, name="web")
    assert ours.name == "web" and sorted(exposed_of(ours)) == sorted(exposed_of(theirs))
    assert replace(ours.config, exposed_ports=[]) == replace(theirs.config, exposed_ports=[])
    assert host_record(ours.host) == host_record(theirs.host) and ours.networking == theirs.networking
    _agrees(ours.to_docker(), FULL_BODY)


def test_config_volumes_covered_by_a_bind_make_no_anonymous_volume():
    """docker-compose v1 sends a named volume both as a Bind and in Config.Volumes: one mount, as docker makes."""
    body = _cli_body({"Volumes": {"/srv": {}, "/cache": {}}}, {"Binds": ["data:/srv:rw"], "Tmpfs": {"/t": ""}})
    body["Volumes"]["/t"] = {}
    spec = ContainerSpec.from_docker(body)
    spec.validate()
    targets = sorted(m.record["Target"] for m in spec.host.mounts)
    assert targets == ["/cache", "/srv", "/t"]
