"""inspect's documents built from records alone: a container's (from a config and state
recorded from a real container, tests/data/records), an image's and a network's (the
documents against a real dockerd: tests/test_inspect.py)."""
from __future__ import annotations

import json
from pathlib import Path

from dunnage.core.containers import Container
from dunnage.core.images.store import Image
from dunnage.core.inspect import container_inspect, endpoint_id, image_inspect, network_inspect, published_ports
from dunnage.core.store import Store
from dunnage.core.volumes import docker_mounts

RECORDS = Path(__file__).parent.parent / "data" / "records"


def _recorded(tmp_path, name: str):
    """The container recorded in NAME, in a store at TMP_PATH (its paths moved there), and
    the inspect document the engine gave for it."""
    store = Store(tmp_path / "root")
    rec = json.loads((RECORDS / name).read_text().replace("/var/lib/dunnage", str(store.root)))
    return Container(store, rec["id"], rec["config"], rec["state"]), rec["inspect"]


def test_exited_container_document_is_the_recorded_one(tmp_path):
    c, recorded = _recorded(tmp_path, "exited_web.json")
    assert container_inspect(c, docker_mounts) == recorded


def test_exited_container_reads_as_dockers(tmp_path):
    """run -p 8080:80 -v /data -e A=1 --restart on-failure:3 -m 64m --stop-signal SIGINT,
    exited 3: what docker records of those flags, and nothing live once stopped."""
    c, _ = _recorded(tmp_path, "exited_web.json")
    doc = container_inspect(c, docker_mounts)
    assert doc["State"]["Status"] == "exited" and doc["State"]["Running"] is False
    assert (doc["State"]["Pid"], doc["State"]["ExitCode"]) == (0, 3)
    hc, conf = doc["HostConfig"], doc["Config"]
    assert hc["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert hc["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (hc["Memory"], hc["MemorySwap"]) == (64 << 20, 128 << 20)  # swap defaults to twice memory
    assert hc["NetworkMode"] == "default" and hc["Binds"] is None
    assert conf["Env"] == ["A=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    assert conf["Volumes"] == {"/data": {}} and conf["ExposedPorts"] == {"80/tcp": {}}
    assert conf["StopSignal"] == "SIGINT" and conf["Labels"] == {"tier": "front"} and conf["Hostname"] == "h1"
    [m] = doc["Mounts"]
    assert (m["Type"], m["Destination"], m["Driver"], m["Mode"], m["RW"], m["Propagation"]) == \
        ("volume", "/data", "local", "", True, "")
    ns = doc["NetworkSettings"]
    assert ns["Ports"] == {} and ns["SandboxKey"] == "" and ns["IPAddress"] == ""
    assert list(ns["Networks"]) == ["bridge"] and ns["Networks"]["bridge"]["EndpointID"] == ""
    assert published_ports(c) == {}


def test_running_container_shows_its_live_network(tmp_path):
    c, _ = _recorded(tmp_path, "exited_web.json")
    ports = {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    c.state.update(Status="running", Pid=4242, NetworkSettings={
        "IPAddress": "172.17.0.5", "Ports": ports,
        "Networks": {"bridge": {"NetworkID": "n" * 64, "IPAddress": "172.17.0.5", "IPPrefixLen": 16,
                                "Gateway": "172.17.0.1", "MacAddress": "02:42:ac:11:00:05", "Interface": "eth0"}}})
    doc = container_inspect(c, docker_mounts)
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] == 4242
    ns = doc["NetworkSettings"]
    assert ns["SandboxKey"] == "/proc/4242/ns/net"
    assert (ns["IPAddress"], ns["Gateway"], ns["IPPrefixLen"]) == ("172.17.0.5", "172.17.0.1", 16)
    br = ns["Networks"]["bridge"]
    assert br["EndpointID"] == endpoint_id(c.id, "n" * 64) == ns["EndpointID"]
    assert br["Interface"] == "eth0" and ns["Ports"] == ports
    assert published_ports(c) == ports
    c.state["Status"] = "exited"  # the record may still hold them: a stopped container publishes nothing
    assert published_ports(c) == {}


def test_image_document():
    cfg = {"architecture": "arm64", "variant": "v8", "os": "linux", "author": "me",
           "config": {"Cmd": ["sh"], "Labels": {"a": "b"}},
           "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "1" * 64]},
           "history": [{"created_by": "ADD x"}, {"created_by": "commit", "comment": "second"}]}
    img = Image("sha256:" + "f" * 64, ["x:1"], cfg, ["sha256:" + "2" * 64], 1234, "2024-01-02T03:04:05Z",
                ["x@sha256:" + "d" * 64])
    doc = image_inspect(img, ["/l/top", "/l/bottom"])
    assert doc["Id"] == img.id and doc["RepoTags"] == ["x:1"] and doc["RepoDigests"] == ["x@sha256:" + "d" * 64]
    assert doc["Digest"] == "sha256:" + "d" * 64
    assert doc["Comment"] == "second" and doc["Author"] == "me" and doc["Size"] == 1234
    assert (doc["Architecture"], doc["Variant"], doc["Os"]) == ("arm64", "v8", "linux") and "OsVersion" not in doc
    assert doc["GraphDriver"] == {"Name": "dunnage-fuse", "Data": {"Layers": "/l/top:/l/bottom"}}
    assert doc["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "1" * 64]}
    assert doc["Labels"] == {"a": "b"} and doc["Config"] == cfg["config"]
    bare = image_inspect(Image("sha256:" + "e" * 64, [], {"rootfs": {"diff_ids": []}}, [], 0, ""), [])
    assert bare["Digest"] == "" and bare["Labels"] is None and bare["Comment"] == "" and "Variant" not in bare


def test_network_document():
    cid = "c" * 64
    rec = {"Name": "front", "Id": "a" * 64, "Created": "2024-01-02T03:04:05Z", "Subnet": "172.18.0.0/16",
           "Gateway": "172.18.0.1", "Internal": False, "Bridge": "dn-aaaaaaaa", "Labels": {"x": "y"},
           "Endpoints": {cid: {"Name": "web", "MacAddress": "02:42:ac:12:00:02", "IPAddress": "172.18.0.2"}}}
    doc = network_inspect(rec)
    assert doc["IPAM"] == {"Driver": "default", "Options": {},
                           "Config": [{"Subnet": "172.18.0.0/16", "Gateway": "172.18.0.1"}]}
    assert doc["Containers"] == {cid: {"Name": "web", "EndpointID": endpoint_id(cid, "a" * 64),
                                       "MacAddress": "02:42:ac:12:00:02", "IPv4Address": "172.18.0.2/16",
                                       "IPv6Address": ""}}
    assert (doc["Scope"], doc["Driver"], doc["Internal"], doc["Labels"]) == ("local", "bridge", False, {"x": "y"})
    assert doc["Options"] == {}  # dockerd's: the driver options it was made with
    assert network_inspect(dict(rec, Options={"com.docker.network.driver.mtu": "1400"}))["Options"] == \
        {"com.docker.network.driver.mtu": "1400"}
    assert network_inspect(dict(rec, Default=True))["Options"] == {"com.docker.network.bridge.name": "dn-aaaaaaaa"}
