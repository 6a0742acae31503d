"""A root's options, docker's daemon.json (core/settings.py), and how the default bridge
is compared with them (core/net/config.py)."""
from __future__ import annotations

import json

import pytest

from dunnage.core import settings
from dunnage.core.errors import InvalidParameter
from dunnage.core.net.config import _as_configured


@pytest.mark.parametrize("value, want", [
    ("fd00:1::/64", "fd00:1::/64"),
    ("2001:DB8:1::1/64", "2001:db8:1::/64"),  # host bits dropped, as dockerd's ParsePrefix keeps the network
    ("fe80::/64", "fe80::/64"),  # the link-local prefix itself is allowed (docker)
    ("fd00::/48", "fd00::/48"),
])
def test_fixed_cidr_v6_accepted(value, want):
    assert settings.fixed_cidr_v6(value) == want


@pytest.mark.parametrize("value, message", [
    ("fd00::", "not an IPv6 subnet"),
    ("banana/64", "not an IPv6 subnet"),
    ("10.0.0.0/8", "not a valid IPv6 subnet"),
    ("::ffff:10.0.0.0/104", "not a valid IPv6 subnet"),
    ("ff02::/64", "multicast"),
    ("fe80::/60", "Link-Local"),
    ("fe80::1234:0:0:0/80", "Link-Local"),
    ("fd00::/127", "too small"),
    ("fd00::/129", "not an IPv6 subnet"),
])
def test_fixed_cidr_v6_refused_in_one_line(value, message):
    with pytest.raises(InvalidParameter, match=message) as e:
        settings.fixed_cidr_v6(value)
    assert "\n" not in str(e.value) and e.value.exit_code == 125


def test_unknown_keys_and_bad_values_are_refused_and_nothing_is_written(tmp_path):
    for bad in ({"ipv6": "yes"}, {"ipv6": True, "log-driver": "json-file"}, {"fixed-cidr-v6": "x"}, []):
        with pytest.raises(InvalidParameter):
            settings.save(tmp_path, bad)
    assert not settings.path(tmp_path).exists()
    assert settings.load(tmp_path) == {}


def test_saved_as_dockers_daemon_json_and_read_back(tmp_path):
    conf = settings.save(tmp_path, {"ipv6": True, "fixed-cidr-v6": "fd00:abc::5/64"})
    assert conf == {"ipv6": True, "fixed-cidr-v6": "fd00:abc::/64"}
    assert json.loads(settings.path(tmp_path).read_text()) == conf
    assert settings.default_bridge_ipv6(tmp_path) == (True, "fd00:abc::/64")
    settings.path(tmp_path).write_text('{"ipv6": false, "fixed-cidr-v6": ""}')  # as a user may write it
    assert settings.default_bridge_ipv6(tmp_path) == (False, None)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ('{"bip": "10.1.0.1/16"}', "don't match any configuration option: bip"),
    ('"ipv6"', "JSON object"),
])
def test_a_bad_file_is_one_line_error(tmp_path, text, message):
    settings.path(tmp_path).write_text(text)
    with pytest.raises(InvalidParameter, match=message) as e:
        settings.load(tmp_path)
    assert "\n" not in str(e.value)


def test_the_default_bridge_is_as_configured_or_made_again():
    v4 = {"Subnet": "172.17.0.0/16"}
    six = dict(v4, EnableIPv6=True, Subnet6="fd00:1::/64")
    assert _as_configured(v4, False, None) and _as_configured(v4, False, "fd00:1::/64")  # (ipv6 off: no cidr used)
    assert not _as_configured(six, False, None)
    assert not _as_configured(v4, True, None)
    assert _as_configured(six, True, None)  # a ULA of its own: any is fine
    assert _as_configured(six, True, "fd00:1::/64") and not _as_configured(six, True, "fd00:2::/64")
