"""Networks, for real: bridges, veths, nftables, the resolver, published ports.

Traffic goes only between the host and containers, between containers, and
to an "outside" host in a network namespace this module makes (198.51.100.2,
routed through the host), never anywhere else.  Name lookups that would be
forwarded go to a DNS server in that namespace (``--dns``)."""
from __future__ import annotations

import json
import ipaddress
import os
import re
import socket
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from conftest import DUNNAGE, HERE, cli, wait_for
from dunnage.core.net.firewall import nft

pytestmark = pytest.mark.timeout(120)

OUT_NS = f"dunnage-out-{os.getpid()}"
OUT_HOST_IF = f"dno{os.getpid() % 100000}h"
OUT_IP = "198.51.100.2"
OUT_GW = "198.51.100.1"


def sh(*args, check=True):
    return subprocess.run(args, capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def outside():
    """A host "outside": a namespace joined to the host by a veth, routed through it."""
    sh("ip", "netns", "add", OUT_NS)
    try:
        sh("ip", "link", "add", OUT_HOST_IF, "type", "veth", "peer", "name", "out0", "netns", OUT_NS)
        sh("ip", "addr", "add", f"{OUT_GW}/24", "dev", OUT_HOST_IF)
        sh("ip", "link", "set", OUT_HOST_IF, "up")
        sh("ip", "-n", OUT_NS, "addr", "add", f"{OUT_IP}/24", "dev", "out0")
        sh("ip", "-n", OUT_NS, "link", "set", "out0", "up")
        sh("ip", "-n", OUT_NS, "link", "set", "lo", "up")
        sh("ip", "-n", OUT_NS, "route", "add", "default", "via", OUT_GW)
        yield OUT_NS
    finally:
        sh("ip", "link", "del", OUT_HOST_IF, check=False)
        sh("ip", "netns", "del", OUT_NS, check=False)


def in_outside(code: str, timeout=30) -> subprocess.Popen:
    """Run Python CODE in the outside namespace; its stdout is a pipe."""
    return subprocess.Popen(["ip", "netns", "exec", OUT_NS, sys.executable, "-c", textwrap.dedent(code)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def networks(engine):
    """Make networks through the engine; every one made is removed after the test."""
    made = []

    def make(name, **kw):
        rec = engine.network_create(name, **kw)
        made.append(rec["Id"])
        return rec
    yield make
    for c in engine.containers(all_=True):
        engine.remove(c.id, force=True)
    for nid in made:
        try:
            engine.network_remove(nid)
        except Exception:  # noqa: BLE001
            pass


def run(engine, image, cmd, **kw):
    return engine.run(image, cmd, detach=True, **kw)


def logs(root, ref) -> str:
    p = cli(root, "logs", ref)
    return p.stdout.decode() + p.stderr.decode()


def ip_of(engine, ref, net=None) -> str:
    ns = engine.inspect(ref)["NetworkSettings"]
    return ns["Networks"][net]["IPAddress"] if net else ns["IPAddress"]


def links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def http_get(url: str, timeout=5) -> bytes:
    return urllib.request.urlopen(url, timeout=timeout).read()


def fetch(host: str) -> list[str]:
    """An HTTP GET from inside a container (Debian's static busybox wget crashes: nc it is)."""
    return ["sh", "-c", f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {host} 80 | grep hello-from"]


WEB = ["sh", "-c", "mkdir -p /www && echo hello-from-$HOSTNAME > /www/index.html && exec httpd -f -p 80 -h /www"]


# ------------------------------------------------------------------ the default bridge
def test_default_bridge_gives_an_address_a_route_and_the_hosts_resolvers(session_root, engine, image):
    c = run(engine, image, ["sh", "-c", "ip -o -4 addr show eth0; cat /sys/class/net/eth0/address; ip route; "
                                        "cat /etc/hosts /etc/resolv.conf"])
    engine.wait(c.id, 30)
    out = logs(session_root, c.id)
    info = engine.network_inspect("bridge")
    gw = info["IPAM"]["Config"][0]["Gateway"]
    assert f"default via {gw} dev eth0" in out
    net = ipaddress.ip_network(info["IPAM"]["Config"][0]["Subnet"])
    # as docker: the address with its network's prefix and broadcast, docker's MAC for it
    m = re.search(r"inet (\S+)/(\d+) brd (\S+) scope global eth0", out)
    assert m and ipaddress.ip_address(m[1]) in net and (int(m[2]), m[3]) == (net.prefixlen, str(net.broadcast_address))
    assert "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.ip_address(m[1]).packed) in out
    # docker's default bridge: no embedded resolver, the host's servers
    assert "127.0.0.11" not in out
    assert f"\t{c.config['Config']['Hostname']}" in out


def test_containers_on_the_default_bridge_reach_each_other_by_address(session_root, engine, image):
    web = run(engine, image, WEB)
    ip = wait_for(lambda: ip_of(engine, web.id))
    c = run(engine, image, fetch(ip))
    assert engine.wait(c.id, 30) == 0
    assert f"hello-from-{web.config['Config']['Hostname']}" in logs(session_root, c.id)


# ------------------------------------------------------------------ user-defined networks and names
def test_names_and_aliases_resolve_on_a_user_network_and_follow_replacement(session_root, engine, image, networks):
    net = networks("names")
    sub = net["Subnet"].rsplit(".", 2)[0]
    db = run(engine, image, ["sleep", "60"], name="db-net", network="names", network_aliases=["database"])
    c = run(engine, image, ["sh", "-c", "nslookup db-net; nslookup database; ping -c1 -W2 db-net"], network="names")
    assert engine.wait(c.id, 30) == 0, logs(session_root, c.id)
    out = logs(session_root, c.id)
    assert out.count(f"Address: {ip_of(engine, db.id)}") >= 2
    assert "1 packets received" in out
    # replace db with another container of the same name at another address
    engine.remove(db.id, force=True)
    new_ip = f"{sub}.200.9" if net["Subnet"].endswith("/16") else None
    db2 = run(engine, image, ["sleep", "60"], name="db-net", network="names", ip=new_ip)
    assert ip_of(engine, db2.id) != ip_of(engine, c.id)
    c2 = run(engine, image, ["nslookup", "db-net"], network="names")
    assert engine.wait(c2.id, 30) == 0
    assert f"Address: {ip_of(engine, db2.id)}" in logs(session_root, c2.id)


def test_unknown_names_are_forwarded_to_the_upstream_server(session_root, engine, image, networks, outside):
    networks("fwd")
    server = in_outside(f"""
        import socket
        from dnslib import DNSRecord, RR, QTYPE, A
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("{OUT_IP}", 53))
        print("ready", flush=True)
        while True:
            data, peer = s.recvfrom(4096)
            q = DNSRecord.parse(data)
            r = q.reply()
            if q.q.qtype == QTYPE.A:
                r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("203.0.113.7"), ttl=60))
            s.sendto(r.pack(), peer)
    """)
    try:
        assert server.stdout.readline().strip() == "ready"
        c = run(engine, image, ["nslookup", "faraway.test"], network="fwd", dns=[OUT_IP])
        assert engine.wait(c.id, 30) == 0, logs(session_root, c.id)
        assert "203.0.113.7" in logs(session_root, c.id)
    finally:
        server.kill()
        server.wait()


def test_networks_are_isolated_from_each_other(session_root, engine, image, networks):
    networks("iso-a")
    networks("iso-b")
    web = run(engine, image, WEB, network="iso-a", name="iso-web")
    ip = wait_for(lambda: ip_of(engine, web.id))
    same = run(engine, image, fetch(ip), network="iso-a")
    other = run(engine, image, fetch(ip), network="iso-b")
    name = run(engine, image, ["nslookup", "iso-web"], network="iso-b")
    assert engine.wait(same.id, 30) == 0
    assert engine.wait(other.id, 30) != 0
    assert engine.wait(name.id, 30) != 0  # names of another network are not answered (no upstream here)


def test_connect_and_disconnect_a_running_container(session_root, engine, image, networks):
    networks("conn-a")
    networks("conn-b")
    web = run(engine, image, WEB, network="conn-b", name="conn-web")
    c = run(engine, image, ["sleep", "60"], network="conn-a", name="conn-client")
    engine.network_connect("conn-b", c.id, aliases=["client"])
    eth1 = engine.inspect(c.id)["NetworkSettings"]["Networks"]["conn-b"]
    assert eth1["Interface"] == "eth1"
    p = cli(session_root, "exec", c.id, *fetch("conn-web"))
    assert p.returncode == 0, p.stderr
    assert b"hello-from" in p.stdout
    info = engine.network_inspect("conn-b")
    assert {v["Name"] for v in info["Containers"].values()} == {"conn-web", "conn-client"}
    engine.network_disconnect("conn-b", c.id)
    p = cli(session_root, "exec", c.id, "ip", "-o", "link")
    assert b"eth1" not in p.stdout and b"eth0" in p.stdout
    assert "conn-b" not in engine.inspect(c.id)["NetworkSettings"]["Networks"]
    assert web.running()


def test_a_networks_definition_is_written_once_and_its_endpoints_beside_it(session_root, engine, image, networks):
    """A container's start and end rewrite its networks' endpoints without fsync (they are
    running containers'), never the network's definition: a power loss then can leave the
    endpoints record empty (a file system that does not order a rename after its data),
    which reads as none, and the network is still there."""
    from dunnage.core.store import read_record
    nid = networks("defonce")["Id"]
    definition = session_root / "networks" / f"{nid}.msgpack"
    endpoints = definition.with_suffix(".endpoints")
    made = definition.read_bytes()
    c = run(engine, image, ["sleep", "60"], network="defonce")
    assert c.id in read_record(endpoints)
    engine.remove(c.id, force=True)
    wait_for(lambda: not read_record(endpoints), timeout=10)
    assert definition.read_bytes() == made
    endpoints.write_bytes(b"")  # (what such a power loss leaves)
    assert engine.network_inspect("defonce")["Containers"] == {}
    c = run(engine, image, ["sleep", "60"], network="defonce")
    assert engine.network_inspect("defonce")["Containers"][c.id]["Name"] == c.name
    assert definition.read_bytes() == made


def test_internal_network_has_no_way_out(session_root, engine, image, networks, outside):
    networks("sealed", internal=True)
    networks("open")
    server = in_outside(f"""
        import socket
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{OUT_IP}", 7000)); s.listen(8)
        print("ready", flush=True)
        while True:
            c, a = s.accept(); print(a[0], flush=True); c.close()
    """)
    try:
        assert server.stdout.readline().strip() == "ready"
        sealed = run(engine, image, ["nc", "-w", "3", OUT_IP, "7000"], network="sealed")
        assert engine.wait(sealed.id, 30) != 0
        # outbound traffic from a normal network is masqueraded: the outside sees the host's address
        ok = run(engine, image, ["sh", "-c", f"echo hi | nc -w 3 {OUT_IP} 7000"], network="open")
        assert engine.wait(ok.id, 30) == 0, logs(session_root, ok.id)
        assert server.stdout.readline().strip() == OUT_GW
    finally:
        server.kill()
        server.wait()


def test_driver_options_name_the_bridge_set_the_mtu_and_turn_masquerade_off(session_root, engine, image, outside):
    """docker network create -o: the bridge's name, the MTU of the bridge and of both ends
    of each veth, and masquerade off (the outside sees the container's own address);
    inspect shows the options as given, as dockerd's; the options not done are refused."""
    br = f"dn-o{os.getpid() % 100000}"
    p = cli(session_root, "network", "create", "-o", f"com.docker.network.bridge.name={br}",
            "-o", "com.docker.network.driver.mtu=1400", "-o", "com.docker.network.bridge.enable_ip_masquerade=false",
            "-o", "org.example.note=kept", "--subnet", f"10.{231 + os.getpid() % 20}.{os.getpid() % 250}.0/24", "optnet")
    assert p.returncode == 0, p.stderr
    server = None
    try:
        info = json.loads(cli(session_root, "network", "inspect", "optnet").stdout)[0]
        assert info["Options"] == {"com.docker.network.bridge.name": br, "com.docker.network.driver.mtu": "1400",
                                   "com.docker.network.bridge.enable_ip_masquerade": "false",
                                   "org.example.note": "kept"}
        assert br in links() and open(f"/sys/class/net/{br}/mtu").read().strip() == "1400"
        from dunnage.core.net.config import Networks
        from dunnage.core.net.firewall import nft
        nets = Networks(engine.store)
        assert info["IPAM"]["Config"][0]["Subnet"] not in nft(f"list set ip {nets.table} masq")
        server = in_outside(f"""
            import socket
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("{OUT_IP}", 7001)); s.listen(8)
            print("ready", flush=True)
            while True:
                c, a = s.accept(); print(a[0], flush=True); c.close()
        """)
        assert server.stdout.readline().strip() == "ready"
        c = run(engine, image, ["sh", "-c", f"cat /sys/class/net/eth0/mtu; echo hi | nc -w 3 {OUT_IP} 7001; sleep 60"],
                network="optnet")
        wait_for(lambda: logs(session_root, c.id).strip(), timeout=20)
        assert logs(session_root, c.id).split()[0] == "1400"
        veth = next(n for n in links() if n.startswith("dv" + c.id[:10]))
        assert open(f"/sys/class/net/{veth}/mtu").read().strip() == "1400"
        assert server.stdout.readline().strip() == ip_of(engine, c.id, "optnet")  # not masqueraded
        for opt, msg in (("com.docker.network.bridge.enable_icc=false", "is not supported"),
                         ("com.docker.network.driver.mtu=9x", "invalid MTU"),
                         (f"com.docker.network.bridge.name={br}", "is in use"),
                         ("com.docker.network.bridge.enable_ip_masquerade=maybe", "true or false"),
                         ("novalue", "KEY=VALUE")):
            p = cli(session_root, "network", "create", "-o", opt, "optnet2")
            err = p.stderr.decode().strip()
            assert p.returncode != 0 and len(err.splitlines()) == 1 and msg in err, (opt, err)
        assert "optnet2" not in cli(session_root, "network", "ls").stdout.decode()
    finally:
        if server is not None:
            server.kill()
            server.wait()
        cli(session_root, "rm", "-f", *[c.id for c in engine.containers(all_=True)
                                         if c.config["HostConfig"]["NetworkMode"] == "optnet"])
        p = cli(session_root, "network", "rm", "optnet")
    assert p.returncode == 0, p.stderr
    assert br not in links()


# ------------------------------------------------------------------ published ports
def test_published_tcp_port_answers_on_loopback_and_host_addresses(session_root, engine, image, outside):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = cli(session_root, "run", "-d", "--name", "pub-web", "-p", f"{port}:80", image, *WEB)
    assert p.returncode == 0, p.stderr
    body = wait_for(lambda: _try_get(f"http://127.0.0.1:{port}/"), timeout=10)
    assert body.startswith(b"hello-from-")
    # from the outside host, through the host's address on its link
    probe = in_outside(f"""
        import urllib.request
        print(urllib.request.urlopen("http://{OUT_GW}:{port}/", timeout=5).read().decode().strip())
    """)
    assert probe.communicate(timeout=30)[0].startswith("hello-from-")
    # but the container's own address is not reachable from outside
    ip = ip_of(engine, "pub-web")
    probe = in_outside(f"""
        import socket
        try:
            socket.create_connection(("{ip}", 80), timeout=2); print("reached")
        except OSError:
            print("refused")
    """)
    assert probe.communicate(timeout=30)[0].strip() == "refused"
    # docker's two bindings, on an IPv4-only network too: [::] relayed to the IPv4 address (docker-proxy's)
    assert cli(session_root, "port", "pub-web").stdout.decode().split("\n")[:2] == [
        f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> [::]:{port}"]
    assert cli(session_root, "port", "pub-web", "80").stdout.decode().split() == [f"0.0.0.0:{port}", f"[::]:{port}"]
    ps = cli(session_root, "ps", "--format", "{{.Ports}}").stdout.decode()
    assert f"0.0.0.0:{port}->80/tcp, " in ps and ps.count(f":{port}->80/tcp") == 2
    assert wait_for(lambda: _try_get(f"http://[::1]:{port}/"), timeout=10).startswith(b"hello-from-")


def _try_get(url):
    try:
        return http_get(url, timeout=2)
    except OSError:
        return None


def test_published_port_ranges(session_root, engine, image):
    import socket as _s
    with _s.socket() as a:
        a.bind(("127.0.0.1", 0))
        base = a.getsockname()[1]
    if base > 65000:
        base = 40000
    c = engine.run(image, ["sh", "-c", "mkdir -p /w; echo r > /w/index.html; httpd -p 81 -h /w; "
                           "exec httpd -f -p 80 -h /w"], detach=True, publish=[f"{base}-{base + 1}:80-81"])
    assert sorted(engine.ports(c.id)) == [("80/tcp", "0.0.0.0", str(base)), ("80/tcp", "::", str(base)),
                                         ("81/tcp", "0.0.0.0", str(base + 1)), ("81/tcp", "::", str(base + 1))]
    for port in (base, base + 1):
        assert wait_for(lambda: _try_get(f"http://127.0.0.1:{port}/"), timeout=10) == b"r\n"
    p = cli(session_root, "run", "--rm", "-p", "9000-9002:80-81", image, "true")
    assert p.returncode == 125 and b"ranges differ" in p.stderr


def test_publish_all_picks_free_host_ports_and_binds_to_one_address(session_root, engine, image):
    c = engine.run(image, WEB, detach=True, expose=["80"], publish_all=True, publish=["127.0.0.1::8080"])
    ports = {k: (ip, int(hp)) for k, ip, hp in engine.ports(c.id) if ip != "::"}
    assert set(ports) == {"80/tcp", "8080/tcp"}
    assert [t for t in engine.ports(c.id) if t[1] == "::"] == [("80/tcp", "::", str(ports["80/tcp"][1]))]
    ip, hp = ports["80/tcp"]
    assert ip == "0.0.0.0" and hp > 1024
    assert ports["8080/tcp"][0] == "127.0.0.1"
    assert wait_for(lambda: _try_get(f"http://127.0.0.1:{hp}/"), timeout=10).startswith(b"hello-from-")


@pytest.fixture
def udpecho(tmp_path):
    exe = tmp_path / "udpecho"
    subprocess.run(["gcc", "-static", "-O2", "-o", str(exe), str(HERE / "data" / "udpecho.c")], check=True)
    return exe


def test_published_udp_port(session_root, engine, image, udpecho):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = engine.create(image, ["/udpecho", "5000"], publish=[f"127.0.0.1:{port}:5000/udp"], detach=True)
    engine.copy_to(c.id, str(udpecho), "/udpecho")
    engine.start(c.id)
    wait_for(lambda: "listening" in logs(session_root, c.id))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        s.sendto(b"ping", ("127.0.0.1", port))
        data, _ = s.recvfrom(100)
    assert data == b"echo:ping"
    assert engine.ports(c.id) == [("5000/udp", "127.0.0.1", str(port))]
    # on every address (an IPv4-only network): over [::1] through the shim's relay too
    port = _free_udp_port("::")
    c = engine.create(image, ["/udpecho", "5000"], publish=[f"{port}:5000/udp"], detach=True)
    engine.copy_to(c.id, str(udpecho), "/udpecho")
    engine.start(c.id)
    wait_for(lambda: "listening" in logs(session_root, c.id))
    assert engine.ports(c.id) == [("5000/udp", "0.0.0.0", str(port)), ("5000/udp", "::", str(port))]
    assert wait_for(lambda: _udp_ask(("::1", port), b"six"), timeout=10) == b"echo:six"
    assert _udp_ask(("127.0.0.1", port), b"four", socket.AF_INET) == b"echo:four"


def test_a_host_port_in_use_is_refused_before_the_container_starts(session_root, engine, image):
    before = links()
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = cli(session_root, "run", "-d", "--name", "clash", "-p", f"{port}:80", image, "sleep", "60")
        assert p.returncode == 125
        err = p.stderr.decode().strip()
        assert len(err.splitlines()) == 1 and "port is already allocated" in err, err
    c = engine.container("clash")
    assert c.status == "created" and not c.running()
    # no veth was made (its host end is named for the container; the host's other links are
    # other tests' and other programs', which come and go meanwhile)
    assert not {n for n in links() - before if n.startswith(f"dv{c.id[:10]}")}
    # two containers cannot publish one port either
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    engine.run(image, ["sleep", "60"], detach=True, publish=[f"{port}:80"])
    p = cli(session_root, "run", "-d", "-p", f"{port}:81", image, "sleep", "60")
    assert p.returncode == 125 and b"port is already allocated" in p.stderr


@pytest.mark.parametrize("args, message", [
    (["-p", "80:abc"], "invalid"),
    (["-p", "70000:80"], "1-65535"),
    (["--network", "nowhere"], "network nowhere not found"),
    (["--ip", "172.17.0.9"], "user defined networks"),
    (["--network-alias", "x"], "user defined networks"),
    (["--network", "none", "--network-alias", "x"], "user defined networks"),
    (["--dns", "resolver.example"], "not an IP address"),
    (["--network", "container:nobody"], "No such container"),
])
def test_bad_network_flags_are_one_line_errors(session_root, image, args, message):
    p = cli(session_root, "run", "--rm", *args, image, "true")
    assert p.returncode == 125
    err = p.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and message in err, err


def test_network_commands_and_their_errors(session_root, engine, image, networks):
    p = cli(session_root, "network", "create", "--subnet", "10.123.0.0/24", "--label", "team=a", "cmdnet")
    assert p.returncode == 0, p.stderr
    try:
        ls = cli(session_root, "network", "ls").stdout.decode()
        assert {"bridge", "cmdnet", "host", "none"} <= {line.split()[1] if line[0] != " " else line.split()[0]
                                                        for line in ls.splitlines()[1:]}
        info = json.loads(cli(session_root, "network", "inspect", "cmdnet").stdout)[0]
        assert info["IPAM"]["Config"] == [{"Subnet": "10.123.0.0/24", "Gateway": "10.123.0.1"}]
        assert info["Labels"] == {"team": "a"}
        assert info["Options"] == {}  # (as dockerd's: the driver options it was made with)
        bridge = f"dn-{info['Id'][:12]}"
        assert bridge in links()
        for args, msg in ((["network", "create", "--subnet", "10.123.0.128/25", "x"], "overlaps network \"cmdnet\""),
                          (["network", "create", "cmdnet"], "already exists"),
                          (["network", "create", "--subnet", "192.0.2.0/28", "x"], None),
                          (["network", "create", "--subnet", "nonsense", "x"], "invalid"),
                          (["network", "rm", "bridge"], "pre-defined"),
                          (["network", "rm", "nothere"], "not found")):
            p = cli(session_root, *args)
            err = p.stderr.decode().strip()
            if msg is None:  # a subnet of a host route: refused only if the host has that route
                if any(line.split()[0] == "192.0.2.0/24" for line in sh("ip", "-4", "route").stdout.splitlines()):
                    assert p.returncode != 0 and "route of this host" in err
                else:
                    cli(session_root, "network", "rm", "x")
                continue
            assert p.returncode != 0 and len(err.splitlines()) == 1 and msg in err, (args, err)
        c = engine.run(image, ["sleep", "60"], detach=True, network="cmdnet", ip="10.123.0.50")
        assert ip_of(engine, c.id) == "10.123.0.50"
        p = cli(session_root, "run", "-d", "--network", "cmdnet", "--ip", "10.123.0.50", image, "sleep", "60")
        assert p.returncode == 125 and b"Address already in use" in p.stderr
        p = cli(session_root, "network", "rm", "cmdnet")
        assert p.returncode == 1 and b"used by containers" in p.stderr
        for x in engine.containers(all_=True):
            if x.config["HostConfig"]["NetworkMode"] == "cmdnet":
                engine.remove(x.id, force=True)
    finally:
        p = cli(session_root, "network", "rm", "cmdnet")
    assert p.returncode == 0, p.stderr
    assert bridge not in links()


def test_prune_removes_unused_networks_only(session_root, engine, image, networks):
    networks("prune-used")
    engine.create(image, ["true"], network="prune-used")
    networks("prune-idle")
    p = cli(session_root, "network", "prune", "-f")
    assert p.returncode == 0
    assert "prune-idle" in p.stdout.decode() and "prune-used" not in p.stdout.decode()
    names = {r["Name"] for r in engine.networks()}
    assert "prune-used" in names and "prune-idle" not in names and "bridge" in names


# ------------------------------------------------------------------ other modes
def test_network_none_has_only_loopback_and_host_shares_the_hosts(session_root, engine, image):
    c = run(engine, image, ["ip", "-o", "link"], network="none")
    engine.wait(c.id, 30)
    out = logs(session_root, c.id)
    assert "lo:" in out and "eth0" not in out
    c = run(engine, image, ["ip", "-o", "link"], network="host")
    engine.wait(c.id, 30)
    host_links = sh("ip", "-o", "link").stdout
    first_host_if = [line.split(":")[1].strip() for line in host_links.splitlines()
                     if line.split(":")[1].strip() != "lo"][0]
    assert f"{first_host_if.split('@')[0]}:" in logs(session_root, c.id)


def test_container_mode_shares_another_containers_network(session_root, engine, image):
    web = run(engine, image, WEB, name="shared-web")
    wait_for(lambda: ip_of(engine, web.id))
    c = run(engine, image, fetch("127.0.0.1"), network="container:shared-web")
    assert engine.wait(c.id, 30) == 0
    assert "hello-from" in logs(session_root, c.id)


# ------------------------------------------------------------------ addresses and cleanup
def test_two_fronts_at_once_never_share_an_address(session_root, engine, image):
    procs = [subprocess.Popen([DUNNAGE, "--root", str(session_root), "run", "-d",
                               "--label", "race=1", image, "sleep", "60"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(6)]
    ids = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        ids.append(out.decode().strip())
    ips = [ip_of(engine, i) for i in ids]
    assert len(set(ips)) == len(ips), ips


def test_a_killed_shim_leaves_no_veth_rule_or_address(session_root, engine, image):
    import signal
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    c = engine.run(image, ["sleep", "60"], detach=True, publish=[f"{port}:80"])
    veth = f"dv{c.id[:10]}0"
    ip = ip_of(engine, c.id)
    assert veth in links()
    from dunnage.core.net.config import Networks
    table = Networks(engine.store).table
    assert f"{port} : {ip} . 80" in nft(f"list map ip {table} tcp_any")
    os.kill(c.state["Pid"], signal.SIGKILL)
    os.kill(c.state["ShimPid"], signal.SIGKILL)
    wait_for(lambda: engine.container(c.id).status == "exited", timeout=20)
    assert veth not in links()
    assert f"{port} :" not in nft(f"list map ip {table} tcp_any")
    assert c.id not in engine.network_inspect("bridge")["Containers"]
    # the port is free again
    c2 = engine.run(image, ["sleep", "60"], detach=True, publish=[f"{port}:80"])
    assert c2.running()


def test_stats_count_network_traffic(session_root, engine, image):
    web = run(engine, image, WEB)
    ip = wait_for(lambda: ip_of(engine, web.id))
    wait_for(lambda: _try_get(f"http://{ip}/"), timeout=10)
    from dunnage.tui.rows import stats_row
    row = stats_row(engine.stats([web.id], interval=0.1)[0])
    rx, tx = row["NetIO"].split(" / ")
    assert rx != "0B" and tx != "0B", row["NetIO"]
    rxp, txp = (int(x) for x in row["NetPackets"].split(" / "))
    assert rxp > 0 and txp > 0


def test_leftover_endpoints_of_vanished_containers_are_released(session_root, engine, image, networks):
    """A crash can leave an endpoint in a record whose container is gone: the next look releases it."""
    from dunnage.core.net.config import Networks
    networks("stale")
    c = run(engine, image, ["sleep", "60"], network="stale")
    nets = Networks(engine.store)
    rec = nets.get("stale")
    ep = dict(rec["Endpoints"][c.id], Container="f" * 64, Veth="dvffffffffff0", IPAddress="0.0.0.0")
    rec["Endpoints"]["f" * 64] = ep
    nets._save(rec)
    assert set(engine.network_inspect("stale")["Containers"]) == {c.id}
    assert set(nets.get("stale")["Endpoints"]) == {c.id}


def test_a_veth_left_by_an_earlier_start_is_replaced(session_root, engine, image):
    """The host's end of a container's veth goes with its namespace, a moment after the
    container's end; a start meanwhile (or a link of that name left behind) takes its place."""
    c = engine.create(image, ["sleep", "60"], detach=True)
    veth = f"dv{c.id[:10]}0"
    subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", f"dt{c.id[:10]}9"], check=True)
    try:
        engine.start(c.id)
        shown = subprocess.run(["ip", "link", "show", veth], capture_output=True, text=True).stdout
        assert " master " in shown and "link-netnsid" in shown  # on the bridge, its peer in the container
        engine.stop(c.id, timeout=1)
        wait_for(lambda: veth not in links(), timeout=10)  # the kernel's, with the namespace
        engine.start(c.id)
        engine.stop(c.id, timeout=1)
        engine.start(c.id)  # at once: the last veth may still be there
        assert engine.container(c.id).running()
    finally:
        subprocess.run(["ip", "link", "del", veth], capture_output=True)


# ------------------------------------------------------------------ the resolver: TCP, sizes, round robin, PTR
def _tcp_query(name: str, qtype: str = "A") -> str:
    """A shell line for inside a container: NAME's query over TCP to 127.0.0.11 (busybox's
    nslookup has no TCP: printf writes the length-prefixed query, nc sends it), the answer in hex."""
    from dnslib import DNSRecord
    q = DNSRecord.question(name, qtype).pack()
    octal = "".join(f"\\{b:03o}" for b in len(q).to_bytes(2, "big") + q)
    return f"printf '{octal}' | nc -w 5 127.0.0.11 53 | od -An -v -tx1"


def _tcp_answer(hexdump: str):
    from dnslib import DNSRecord
    data = bytes.fromhex("".join(hexdump.split()))
    assert len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2, hexdump
    return DNSRecord.parse(data[2:])


def test_a_shared_alias_answers_every_address_and_addresses_answer_ptr(session_root, engine, image, networks):
    networks("rr")
    pool = [run(engine, image, ["sleep", "60"], name=f"pool-{i}", network="rr", network_aliases=["pool"])
            for i in range(3)]
    ips = [ip_of(engine, c.id) for c in pool]
    c = run(engine, image, ["sh", "-c", f"nslookup pool; nslookup {ips[1]}"], network="rr")
    assert engine.wait(c.id, 30) == 0, logs(session_root, c.id)
    out = logs(session_root, c.id)
    assert all(f"Address: {ip}" in out for ip in ips), out
    assert f"name = pool-1.rr" in out, out


def test_names_are_answered_and_forwarded_over_tcp(session_root, engine, image, networks, outside):
    networks("tcpdns")
    server = in_outside(f"""
        import socket
        from dnslib import DNSRecord, RR, QTYPE, A
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{OUT_IP}", 53))
        s.listen(4)
        print("ready", flush=True)
        while True:
            conn, _ = s.accept()
            with conn:
                data = b""
                while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                    data += conn.recv(4096)
                q = DNSRecord.parse(data[2:])
                r = q.reply()
                r.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("203.0.113.9"), ttl=60))
                out = r.pack()
                conn.sendall(len(out).to_bytes(2, "big") + out)
    """)
    try:
        assert server.stdout.readline().strip() == "ready"
        db = run(engine, image, ["sleep", "60"], name="tcp-db", network="tcpdns")
        c = run(engine, image, ["sh", "-c", f"{_tcp_query('tcp-db')}; echo ---; {_tcp_query('far.test')}"],
                network="tcpdns", dns=[OUT_IP])
        assert engine.wait(c.id, 30) == 0, logs(session_root, c.id)
        ours, far = logs(session_root, c.id).split("---")
        assert [str(a.rdata) for a in _tcp_answer(ours).rr] == [ip_of(engine, db.id)]
        assert [str(a.rdata) for a in _tcp_answer(far).rr] == ["203.0.113.9"]  # the server's, over TCP
    finally:
        server.kill()
        server.wait()


def _in_new_netns(fn):
    from dunnage.core.net import loopback_up
    from dunnage.core.net.netlink import _in_thread
    from dunnage.core.runtime.linux import CLONE_NEWNET, unshare

    def body():
        unshare(CLONE_NEWNET)
        loopback_up()
        return fn()
    return _in_thread(body)


def test_long_answers_are_cut_to_the_clients_size_over_udp_and_whole_over_tcp():
    """60 containers sharing a name: 960 bytes of answers.  A client without EDNS0 takes
    512 bytes over UDP (marked truncated: it asks again over TCP), one with EDNS0 what it
    said; over TCP all of them.  A flood of queries that go unanswered upstream does not
    keep the resolver from answering."""
    from dnslib import EDNS0, DNSRecord
    from dunnage.core.net.dns import Resolver
    many = [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(60)]

    def scenario():
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tcp = socket.socket()
        for s in (udp, tcp):
            s.bind(("127.0.0.11", 53))
            s.setblocking(False)
        tcp.listen(4)
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent.bind(("127.0.0.2", 53))  # an upstream that never answers
        r = Resolver(lambda: {"many": many}, udp, ["127.0.0.2"], tcp)
        client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        client.settimeout(5)
        out = {}
        try:
            def ask_udp(q):
                client.sendto(q.pack(), ("127.0.0.11", 53))
                r.on_query()
                return client.recv(65535)
            for i in range(300):
                client.sendto(DNSRecord.question(f"n{i}.test").pack(), ("127.0.0.11", 53))
                r.on_query()
            out["pending"] = len(r.pending)
            out["plain"] = ask_udp(DNSRecord.question("many"))
            q = DNSRecord.question("many")
            q.add_ar(EDNS0(udp_len=1232))
            out["edns"] = ask_udp(q)
            with socket.create_connection(("127.0.0.11", 53), timeout=5) as conn:
                data = DNSRecord.question("many").pack()
                conn.sendall(len(data).to_bytes(2, "big") + data)
                got = b""
                while len(got) < 2 or len(got) < 2 + int.from_bytes(got[:2], "big"):
                    r.on_upstream()
                    try:
                        conn.settimeout(0.05)
                        got += conn.recv(65535)
                    except TimeoutError:
                        pass
                out["tcp"] = got[2:]
            return out
        finally:
            r.close()
            for s in (silent, client):
                s.close()
    out = _in_new_netns(scenario)
    assert out["pending"] == Resolver.MAX_PENDING
    plain, edns, tcp = (DNSRecord.parse(out[k]) for k in ("plain", "edns", "tcp"))
    assert len(out["plain"]) <= 512 and plain.header.tc and 0 < len(plain.rr) < 60
    assert not edns.header.tc and len(edns.rr) == 60 and len(out["edns"]) <= 1232
    assert not tcp.header.tc and sorted(str(a.rdata) for a in tcp.rr) == sorted(many)


# ------------------------------------------------------------------ dual stack
def test_a_dual_stack_network_pings_by_name_over_ipv6_is_isolated_and_leaves_nothing(session_root, engine, image,
                                                                                      networks):
    from dunnage.core.net.config import Networks
    a, b = networks("six-a", ipv6=True), networks("six-b", ipv6=True)
    assert a["EnableIPv6"] and ipaddress.ip_network(a["Subnet6"]).version == 6
    assert engine.network_inspect("six-a")["EnableIPv6"] is True
    c1 = run(engine, image, WEB, name="six-1", network="six-a")
    ep = engine.inspect(c1.id)["NetworkSettings"]["Networks"]["six-a"]
    ip6 = ep["GlobalIPv6Address"]
    assert ipaddress.ip_address(ip6) in ipaddress.ip_network(a["Subnet6"]) and ep["IPv6Gateway"] == a["Gateway6"]
    assert b"hello-from" in wait_for(lambda: _try_get(f"http://[{ip6}]/"), timeout=10)  # the host, through the bridge
    c2 = run(engine, image, ["sh", "-c", "nslookup six-1 && ping -6 -c1 -W2 six-1"], network="six-a")
    assert engine.wait(c2.id, 30) == 0, logs(session_root, c2.id)
    assert f"Address: {ip6}" in logs(session_root, c2.id)
    c3 = run(engine, image, ["ping", "-6", "-c1", "-W2", ip6], network="six-b")
    assert engine.wait(c3.id, 30) != 0  # another network: dropped
    bridge, table = a["Bridge"], Networks(engine.store).table
    assert bridge in nft(f"list set ip6 {table} bridges")
    for c in (c1, c2, c3):
        engine.remove(c.id, force=True)
    engine.network_remove("six-a")
    engine.network_remove("six-b")
    assert bridge not in links()
    assert sh("ip", "-6", "route", "show", a["Subnet6"]).stdout.strip() == ""
    if Networks(engine.store).firewall().exists6():
        assert bridge not in nft(f"list set ip6 {table} bridges")


def test_ip6_picks_the_containers_ipv6_address_and_a_bad_one_is_refused(session_root, engine, image, networks):
    net = networks("six-ip", ipv6=True)
    want = str(ipaddress.ip_network(net["Subnet6"]).network_address + 0x42)
    p = cli(session_root, "run", "-d", "--name", "six-ip-1", "--network", "six-ip", "--ip6", want, image, "sleep", "60")
    assert p.returncode == 0, p.stderr
    assert engine.inspect("six-ip-1")["NetworkSettings"]["Networks"]["six-ip"]["GlobalIPv6Address"] == want
    c = run(engine, image, ["ping", "-6", "-c1", "-W2", want], network="six-ip")
    assert engine.wait(c.id, 30) == 0, logs(session_root, c.id)
    for args in (["--network", "six-ip", "--ip6", "fd00:dead::1"], ["--ip6", want]):
        p = cli(session_root, "run", "--rm", *args, image, "true")
        err = p.stderr.decode().strip()
        assert p.returncode == 125 and len(err.splitlines()) == 1 and "Traceback" not in err, err


OUT_IP6, OUT_GW6 = "fd00:5100::2", "fd00:5100::1"


@pytest.fixture
def outside6(outside):
    """The outside host on IPv6 too (a ULA of its own, routed through the host)."""
    sh("ip", "addr", "add", f"{OUT_GW6}/64", "dev", OUT_HOST_IF, "nodad")
    try:
        sh("ip", "-n", OUT_NS, "addr", "add", f"{OUT_IP6}/64", "dev", "out0", "nodad")
        sh("ip", "-n", OUT_NS, "-6", "route", "replace", "default", "via", OUT_GW6)
        yield outside
    finally:
        sh("ip", "-n", OUT_NS, "-6", "route", "del", "default", "via", OUT_GW6, check=False)
        sh("ip", "-n", OUT_NS, "addr", "del", f"{OUT_IP6}/64", "dev", "out0", check=False)
        sh("ip", "addr", "del", f"{OUT_GW6}/64", "dev", OUT_HOST_IF, check=False)


def test_ipv6_goes_out_masqueraded_and_not_from_an_internal_network(session_root, engine, image, networks,
                                                                     outside6):
    networks("six-sealed", internal=True, ipv6=True)
    networks("six-open", ipv6=True)
    server = in_outside(f"""
        import socket
        s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("{OUT_IP6}", 7000)); s.listen(8)
        print("ready", flush=True)
        while True:
            c, a = s.accept(); print(a[0], flush=True); c.close()
    """)
    try:
        assert server.stdout.readline().strip() == "ready"
        sealed = run(engine, image, ["nc", "-w", "3", OUT_IP6, "7000"], network="six-sealed")
        assert engine.wait(sealed.id, 30) != 0
        ok = run(engine, image, ["sh", "-c", f"echo hi | nc -w 3 {OUT_IP6} 7000"], network="six-open")
        assert engine.wait(ok.id, 30) == 0, logs(session_root, ok.id)
        assert server.stdout.readline().strip() == OUT_GW6  # the host's address: masqueraded
    finally:
        server.kill()
        server.wait()


def test_a_port_on_a_dual_stack_network_is_published_on_both_families(session_root, engine, image, networks,
                                                                       outside6):
    networks("six-pub", ipv6=True)
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    c = run(engine, image, WEB, name="six-web", network="six-pub", publish=[f"{port}:80"])
    p = cli(session_root, "port", "six-web")
    assert p.stdout.decode().split("\n")[:2] == [f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> [::]:{port}"], p.stdout
    assert b"hello-from" in wait_for(lambda: _try_get(f"http://127.0.0.1:{port}/"), timeout=10)
    # from the outside host, to the host's IPv6 address
    client = in_outside(f"""
        import socket
        s = socket.create_connection(("{OUT_GW6}", {port}), timeout=5)
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        print(data.decode().splitlines()[-1], flush=True)
    """)
    out, err = client.communicate(timeout=30)
    assert out.strip().startswith("hello-from"), err
    # and over [::1]: relayed by the shim (no DNAT from the loopback), as docker-proxy does
    assert b"hello-from" in wait_for(lambda: _try_get(f"http://[::1]:{port}/"), timeout=10)
    engine.remove(c.id, force=True)
    c = run(engine, image, WEB, publish=[f"[::]:{port}:80"])  # the default bridge, IPv4 only: relayed
    assert engine.ports(c.id) == [("80/tcp", "::", str(port))]
    assert b"hello-from" in wait_for(lambda: _try_get(f"http://[::1]:{port}/"), timeout=10)
    assert _try_get(f"http://127.0.0.1:{port}/") is None  # (published on IPv6 alone)


def test_a_port_published_on_the_ipv6_loopback_is_relayed_to_the_container(session_root, engine, image):
    """IPv6 has no route_localnet: the shim relays [::1] (as docker's userland proxy), on any network."""
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    c = run(engine, image, WEB, name="lo6-web", publish=[f"[::1]:{port}:80"])
    assert cli(session_root, "port", "lo6-web").stdout.decode().strip() == f"80/tcp -> [::1]:{port}"
    for _ in range(2):
        assert b"hello-from" in wait_for(lambda: _try_get(f"http://[::1]:{port}/"), timeout=10)
    engine.remove(c.id, force=True)
    with socket.socket(socket.AF_INET6) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # (the relayed connections' TIME_WAIT)
        s.bind(("::1", port))
        s.listen(1)  # free again: the shim's socket went with it


def _udp_ask(addr: tuple, payload: bytes, family=socket.AF_INET6) -> bytes | None:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(1)
        s.sendto(payload, addr)
        try:
            return s.recvfrom(100)[0]
        except TimeoutError:
            return None


def _free_udp_port(host: str, family=socket.AF_INET6) -> int:
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def test_udp_published_on_the_ipv6_loopback_and_on_every_address_of_a_dual_stack_network(
        session_root, engine, image, networks, udpecho):
    """-p [::1]:H:C/udp (to the container's IPv4 address) and -p H:C/udp on a dual-stack
    network reached over [::1] (to its IPv6 one): the shim relays both, each client its answers."""
    from dunnage.core.net.config import Networks
    networks("six-udp", ipv6=True)
    lo_port, any_port = _free_udp_port("::1"), _free_udp_port("::")
    c = engine.create(image, ["/udpecho", "5000"], network="six-udp", detach=True,
                      publish=[f"[::1]:{lo_port}:5000/udp", f"{any_port}:5000/udp"])
    engine.copy_to(c.id, str(udpecho), "/udpecho")
    engine.start(c.id)
    wait_for(lambda: "listening" in logs(session_root, c.id))
    assert sorted(engine.ports(c.id)) == sorted([("5000/udp", "::1", str(lo_port)), ("5000/udp", "0.0.0.0", str(any_port)),
                                                ("5000/udp", "::", str(any_port))])
    assert wait_for(lambda: _udp_ask(("::1", lo_port), b"lo"), timeout=10) == b"echo:lo"
    assert wait_for(lambda: _udp_ask(("::1", any_port), b"any"), timeout=10) == b"echo:any"
    assert _udp_ask(("127.0.0.1", any_port), b"four", socket.AF_INET) == b"echo:four"  # DNAT, as before
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as a, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as b:
        for s in (a, b):
            s.settimeout(5)
        a.sendto(b"from-a", ("::1", any_port))
        b.sendto(b"from-b", ("::1", any_port))
        assert (b.recvfrom(100)[0], a.recvfrom(100)[0]) == (b"echo:from-b", b"echo:from-a")
    table = Networks(engine.store).table
    engine.remove(c.id, force=True)
    for host, port in (("::1", lo_port), ("::", any_port)):  # the host ports are free again
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            s.bind((host, port))
    assert f"{any_port} :" not in nft(f"list map ip6 {table} udp_any")
    assert f"{any_port} :" not in nft(f"list map ip {table} udp_any")


# ------------------------------------------------------------------ the default bridge's IPv6 (the root's options)
def test_the_default_bridge_gets_ipv6_from_the_roots_options_and_leaves_nothing(fresh_root, image):
    """dockerd's ipv6 / fixed-cidr-v6 as `system config` sets them in the root's daemon.json:
    containers on the default bridge get an address of that range, ip6 rules and masquerade as a
    dual-stack network's; a change while containers run waits for the last one, as dockerd's
    restart with running containers leaves the bridge as it was."""
    from dunnage.core import Engine
    from dunnage.core.net.config import Networks
    e = Engine(str(fresh_root))
    e.ensure_demo_image()
    cidr = f"fd00:d0c:{os.getpid() % 0xffff:x}::/64"
    for bad in ("fe80::/60", "10.1.0.0/16", "fd00::", "fd00::/127"):
        p = cli(fresh_root, "system", "config", "--ipv6", "--fixed-cidr-v6", bad)
        err = p.stderr.decode().strip()
        assert p.returncode == 125 and len(err.splitlines()) == 1 and "fixed-cidr-v6" in err, err
    e.network_create("bridge6-user", ipv6=True, subnet6=cidr.replace("::/64", ":1::/64"))
    p = cli(fresh_root, "system", "config", "--ipv6", "--fixed-cidr-v6", cidr.replace("::/64", "::/48"))
    err = p.stderr.decode().strip()
    assert p.returncode == 125 and len(err.splitlines()) == 1 and 'overlaps network "bridge6-user"' in err, err
    e.network_remove("bridge6-user")
    assert not (fresh_root / "daemon.json").exists()
    p = cli(fresh_root, "system", "config", "--ipv6", "--fixed-cidr-v6", cidr.replace("::/", "::7/"))
    assert p.returncode == 0, p.stderr
    assert json.loads(cli(fresh_root, "system", "config").stdout) == {"ipv6": True, "fixed-cidr-v6": cidr}
    doc = json.loads(cli(fresh_root, "network", "inspect", "bridge").stdout)[0]
    gw6 = str(ipaddress.ip_network(cidr).network_address + 1)
    assert doc["EnableIPv6"] is True and {"Subnet": cidr, "Gateway": gw6} in doc["IPAM"]["Config"], doc
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
    p = cli(fresh_root, "run", "-d", "--name", "bridge6-web", "-p", f"{port}:80", image, *WEB)
    assert p.returncode == 0, p.stderr
    ns = e.inspect("bridge6-web")["NetworkSettings"]
    ip6 = ns["GlobalIPv6Address"]
    assert ipaddress.ip_address(ip6) in ipaddress.ip_network(cidr) and ns["IPv6Gateway"] == gw6
    assert ns["GlobalIPv6PrefixLen"] == 64 and ns["Networks"]["bridge"]["GlobalIPv6Address"] == ip6
    assert cli(fresh_root, "port", "bridge6-web").stdout.decode().split("\n")[:2] == [
        f"80/tcp -> 0.0.0.0:{port}", f"80/tcp -> [::]:{port}"]
    for url in (f"http://[{ip6}]/", f"http://[::1]:{port}/", f"http://127.0.0.1:{port}/"):
        assert b"hello-from" in wait_for(lambda: _try_get(url), timeout=10), url
    c = e.run(image, ["ping", "-6", "-c1", "-W2", ip6], detach=True)  # container to container over IPv6
    assert e.wait(c.id, 30) == 0, logs(fresh_root, c.id)
    nets = Networks(e.store)
    bridge, table = nets.default_bridge, nets.table
    assert bridge in nft(f"list set ip6 {table} bridges") and cidr in nft(f"list set ip6 {table} masq")
    # turned off while a container is on the bridge: it keeps its IPv6 until none is
    p = cli(fresh_root, "system", "config", "--ipv6=false")
    assert p.returncode == 0 and b"running containers" in p.stderr, p.stderr
    assert json.loads(cli(fresh_root, "network", "inspect", "bridge").stdout)[0]["EnableIPv6"] is True
    assert b"hello-from" in wait_for(lambda: _try_get(f"http://[{ip6}]/"), timeout=10)
    assert cli(fresh_root, "rm", "-f", "bridge6-web").returncode == 0
    doc = json.loads(cli(fresh_root, "network", "inspect", "bridge").stdout)[0]
    assert doc["EnableIPv6"] is False and len(doc["IPAM"]["Config"]) == 1, doc
    assert sh("ip", "-6", "route", "show", cidr).stdout.strip() == ""
    assert sh("ip", "-6", "addr", "show", "dev", bridge).stdout.count(gw6) == 0
    assert bridge not in nft(f"list set ip6 {table} bridges") and cidr not in nft(f"list set ip6 {table} masq")
    assert f"{port} :" not in nft(f"list map ip6 {table} tcp_any")
    c = e.run(image, ["sleep", "30"], detach=True)
    ns = e.inspect(c.id)["NetworkSettings"]
    assert ns["IPAddress"] and ns["GlobalIPv6Address"] == "" and ns["Networks"]["bridge"]["GlobalIPv6Address"] == ""
