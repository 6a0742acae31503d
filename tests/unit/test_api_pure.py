"""Pure pieces of dunnage.api's terminals, credentials and socket activation: detach
keys, X-Registry-Auth, the activation variables (no root, no socket handed over)."""
from __future__ import annotations

import base64
import json
import os

import pytest

from dunnage.api.containers import DETACH_KEYS, _detach_keys
from dunnage.api.errors import ApiError
from dunnage.api.images import _Creds, _registry_auth
from dunnage.api.server import activated_socket


def test_detach_keys_as_docker_spells_them():
    assert _detach_keys(None) == DETACH_KEYS == b"\x10\x11"
    assert _detach_keys("ctrl-a,x") == b"\x01x"
    assert _detach_keys("ctrl-@,ctrl-[,ctrl-_") == b"\x00\x1b\x1f"
    for bad in ("ctrl-!", "ctrl-", "xy", "ctrl-ab"):
        with pytest.raises(ApiError) as e:
            _detach_keys(bad)
        assert e.value.status == 400 and "Invalid detach keys" in e.value.message


class _Req:
    def __init__(self, header):
        self.headers = {} if header is None else {"X-Registry-Auth": header}


def test_registry_auth_header():
    raw = base64.urlsafe_b64encode(json.dumps({"username": "u", "password": "p"}).encode()).decode()
    assert _registry_auth(_Req(raw.rstrip("="))) == {"username": "u", "password": "p"}  # padding optional
    assert _registry_auth(_Req(None)) is None
    for bad in ("!!!", base64.urlsafe_b64encode(b"[1]").decode()):
        with pytest.raises(ApiError) as e:
            _registry_auth(_Req(bad))
        assert e.value.status == 400

    class Kept:
        def get(self, registry):
            return ("kept", "pw") if registry == "r:1" else None
    assert _Creds({"username": "u", "password": "p"}, Kept()).get("r:1") == ("u", "p")
    assert _Creds({}, Kept()).get("r:1") == ("kept", "pw")  # the docker CLI's "{}": the root's own
    assert _Creds(None, Kept()).get("other") is None


def test_activation_variables_not_ours_or_none():
    assert activated_socket({}) is None
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1"}
    assert activated_socket(env) is None and env["LISTEN_FDS"] == "1"  # another process's: left alone
    env = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "0", "LISTEN_FDNAMES": "x"}
    assert activated_socket(env) is None and env == {}  # ours, dropped, none handed over
    with pytest.raises(ValueError, match="not a number"):
        activated_socket({"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "many"})
