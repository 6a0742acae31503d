"""dunnage.api's router and errors are pure: paths, versions, query values and
docker's status codes from the engine's messages, with no root, socket or engine."""
from __future__ import annotations

import json

import pytest

from dunnage.api.errors import ApiError, from_engine, status_of
from dunnage.api.router import Router, qbool, qfilters, qint, split_version


def _router() -> Router:
    r = Router()
    r.add("GET", "/containers/{id}/json", lambda req: "inspect")
    r.add("DELETE", "/containers/{id}", lambda req: "rm")
    r.add("GET", "/images/{name:path}/json", lambda req: "image")
    r.add("GET", "/_ping", lambda req: "ping")
    return r


def test_versions_prefixed_and_unversioned():
    r = _router()
    fn, params, query, version = r.match("GET", "/v1.41/containers/abc/json?size=1")
    assert (fn(None), params, query, version) == ("inspect", {"id": "abc"}, {"size": ["1"]}, "1.41")
    fn, params, _, version = r.match("GET", "/containers/abc/json")
    assert (fn(None), params, version) == ("inspect", {"id": "abc"}, None)
    assert r.match("GET", "/v1.12/_ping")[3] == "1.12"


def test_head_is_served_by_get_and_other_methods_are_405():
    r = _router()
    assert r.match("HEAD", "/_ping")[0](None) == "ping"
    with pytest.raises(ApiError) as e:
        r.match("POST", "/containers/abc/json")
    assert e.value.status == 405
    with pytest.raises(ApiError) as e:
        r.match("GET", "/no/such")
    assert e.value.status == 404


def test_image_names_hold_slashes_and_escapes():
    fn, params, _, _ = _router().match("GET", "/images/registry%3A5000/a/b:v1/json")
    assert params == {"name": "registry:5000/a/b:v1"}


@pytest.mark.parametrize("v, ok", [("1.11", False), ("1.12", True), ("1.41", True), ("1.42", False)])
def test_version_bounds(v, ok):
    if ok:
        assert split_version(f"/v{v}/x") == (v, "/x")
    else:
        with pytest.raises(ApiError) as e:
            split_version(f"/v{v}/x")
        assert e.value.status == 400


def test_query_values():
    assert qbool({"all": ["1"]}, "all") and qbool({"all": ["true"]}, "all") and not qbool({"all": ["0"]}, "all")
    assert qbool({}, "all", True)
    with pytest.raises(ApiError):
        qbool({"all": ["maybe"]}, "all")
    assert qint({"limit": ["3"]}, "limit") == 3 and qint({}, "limit", -1) == -1
    with pytest.raises(ApiError) as e:
        qint({"limit": ["x"]}, "limit")
    assert e.value.status == 400
    assert qfilters({"filters": ['{"label":["a=b"],"name":{"x":true,"y":false}}']}) == {"label": ["a=b"],
                                                                                      "name": ["x"]}
    for bad in ("{nope", "[1]", '{"name": 3}'):
        with pytest.raises(ApiError):
            qfilters({"filters": [bad]})


@pytest.mark.parametrize("msg, code, status", [
    ("No such container: x", 1, 404),
    ("No such image: x", 125, 404),
    ('Conflict. The container name "/x" is already in use by container "y".', 125, 409),
    ("You cannot remove a running container x. Stop the container before attempting removal or force remove",
     1, 409),
    ("invalid signal: FOO", 1, 400),
    ("invalid argument \"lots\" for \"-m, --memory\" flag", 125, 400),
    ("mounting the container root: EIO", 1, 500),
])
def test_status_of_engine_messages(msg, code, status):
    assert status_of(msg, code) == status


def test_error_body_is_dockers():
    class EngineLike(Exception):
        code = 1
    e = from_engine(EngineLike("No such container: x"))
    assert (e.status, json.loads(e.body())) == (404, {"message": "No such container: x"})


def test_an_error_of_a_kind_keeps_its_status():
    class Kind(Exception):
        code, status = 1, 409
    assert from_engine(Kind("whatever the words")).status == 409

    class Unclassified(Exception):
        code, status = 1, None
    assert from_engine(Unclassified("No such network: n")).status == 404
