"""-p and --expose as docker's go-connections/nat.ParsePortSpec reads them (core/net/ports.py)."""
from __future__ import annotations

import pytest

from dunnage.core.net.ports import PortError, docker_ports, parse_expose, parse_publish


def b(port, host=0, ip="0.0.0.0", proto="tcp"):
    return {"Proto": proto, "HostIp": ip, "HostPort": host, "Port": port}


@pytest.mark.parametrize("spec, want", [
    ("80", [b(80)]),
    ("8080:80", [b(80, 8080)]),
    (":80", [b(80)]),
    ("127.0.0.1:8080:80", [b(80, 8080, "127.0.0.1")]),
    ("127.0.0.1::80", [b(80, 0, "127.0.0.1")]),
    ("0.0.0.0:53:53/udp", [b(53, 53, proto="udp")]),
    ("80/udp", [b(80, proto="udp")]),
    ("80/tcp", [b(80)]),
    ("8080-8081:80-81", [b(80, 8080), b(81, 8081)]),
    ("80-81", [b(80), b(81)]),
    ("127.0.0.1:7000-7001:80-81/udp", [b(80, 7000, "127.0.0.1", "udp"), b(81, 7001, "127.0.0.1", "udp")]),
    ("65535:1", [b(1, 65535)]),
])
def test_publish_specs(spec, want):
    assert parse_publish(spec) == want


def test_a_host_range_for_one_container_port_is_one_free_port_of_it():
    assert parse_publish("8000-8010:80") == [dict(b(80), HostRange=[8000, 8010])]


@pytest.mark.parametrize("spec", [
    "", "abc", "0", "65536", "80:0", "70000:80", "1.2.3.4:80",  # docker: 1.2.3.4 is a bad host port
    "80:90-91", "8080-8082:80-81", "81-80", "localhost:80:80", "999.1.1.1:80:80", "80/sctpx", "80/", "80:80:80:80",
    "-1:80",
])
def test_publish_specs_docker_refuses(spec):
    with pytest.raises(PortError):
        parse_publish(spec)


def test_ipv6_host_addresses_and_udp_on_the_loopback_refused_with_the_reason():
    assert parse_publish("[::]:8080:80") == [{"Proto": "tcp", "HostIp": "::", "HostPort": 8080, "Port": 80}]
    assert parse_publish("[::1]:8080:80") == [{"Proto": "tcp", "HostIp": "::1", "HostPort": 8080, "Port": 80}]
    assert parse_publish("[2001:DB8::1]::53/udp") == [{"Proto": "udp", "HostIp": "2001:db8::1", "HostPort": 0,
                                                      "Port": 53}]
    with pytest.raises(PortError, match=r"UDP on \[::1\] is not supported"):
        parse_publish("[::1]:8080:80/udp")


def test_expose():
    assert parse_expose("80") == ["80/tcp"]
    assert parse_expose("53/udp") == ["53/udp"]
    assert parse_expose("8000-8002") == ["8000/tcp", "8001/tcp", "8002/tcp"]
    for bad in ("", "http", "0", "80/icmp", "2-1", "1:2"):
        with pytest.raises(PortError):
            parse_expose(bad)


def test_inspect_ports_document():
    """NetworkSettings.Ports: every exposed port, null where nothing is published, HostPort a string."""
    doc = docker_ports([dict(b(80, 8080)), dict(b(53, 5353, "127.0.0.1", "udp"))], ["9000/tcp"])
    assert doc["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": "8080"}]
    assert doc["53/udp"] == [{"HostIp": "127.0.0.1", "HostPort": "5353"}]
    assert doc["9000/tcp"] is None
