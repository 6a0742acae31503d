"""docker network create -o: the bridge driver's options dunnage does, checked; the rest
of docker's refused; options of no driver kept (core/net/config.py).  Pure."""
from __future__ import annotations

import pytest

from dunnage.core.net.config import NetworkError, check_options, masquerades, mtu_of


def test_the_options_done_are_checked_and_kept_as_given():
    given = {"com.docker.network.bridge.name": "br-web.1", "com.docker.network.driver.mtu": "1400",
             "com.docker.network.bridge.enable_ip_masquerade": "False", "org.example.x": "y"}
    assert check_options(given) == given and check_options(None) == {}
    r = {"Internal": False, "Options": given}
    assert not masquerades(r) and mtu_of(r) == 1400
    assert masquerades({"Internal": False}) and not masquerades({"Internal": True}) and mtu_of({}) is None
    assert masquerades({"Internal": False, "Options": {"com.docker.network.bridge.enable_ip_masquerade": "1"}})


@pytest.mark.parametrize("opts, msg", [
    ({"com.docker.network.bridge.name": "a-name-longer-than-15"}, "invalid bridge name"),
    ({"com.docker.network.bridge.name": "bad/name"}, "invalid bridge name"),
    ({"com.docker.network.driver.mtu": "67"}, "invalid MTU"),
    ({"com.docker.network.driver.mtu": "65536"}, "invalid MTU"),
    ({"com.docker.network.bridge.enable_ip_masquerade": "yes"}, "true or false"),
    ({"com.docker.network.bridge.enable_icc": "false"}, "is not supported"),
    ({"com.docker.network.bridge.host_binding_ipv4": "127.0.0.1"}, "is not supported"),
    ({"k": 1}, "strings expected"),
])
def test_bad_or_unsupported_options_are_refused(opts, msg):
    with pytest.raises(NetworkError) as ex:
        check_options(opts)
    assert msg in str(ex.value) and ex.value.status == 400
