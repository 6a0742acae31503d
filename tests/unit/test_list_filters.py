"""The listing filters of images, volumes and networks (core/image_filters.py,
core/volume_filters.py, core/network_filters.py) and logs --details' prefix
(core/logs.py): the pure parts, as dockerd 20.10 decides them.  No root."""
from __future__ import annotations

import pytest

from dunnage.core import image_filters, network_filters, volume_filters
from dunnage.core.errors import EngineError
from dunnage.core.logs import details_prefix


@pytest.mark.parametrize("pattern, ref, match", [
    ("local/*", "local/busybox:latest", True),      # the name without its tag
    ("*box*", "local/busybox:latest", False),       # * stops at /
    ("*/busy*:lat*", "local/busybox:latest", True),
    ("loc?l/busybox", "local/busybox:1", True),
    ("l[a-o]cal/*", "local/x:1", True),
    ("l[^a-o]cal/*", "local/x:1", False),
    ("busybox", "busybox:1", True),
    ("busybox:2", "busybox:1", False),
    ("x/y", "x/y@sha256:" + "0" * 64, True),
    (r"a\*", "a*:1", True),
])
def test_reference_is_go_path_match_on_the_familiar_name(pattern, ref, match):
    assert image_filters._familiar_match(pattern, ref) is match


@pytest.mark.parametrize("module, filters, words", [
    (image_filters, {"bogus": ["1"]}, "Invalid filter 'bogus'"),
    (image_filters, {"dangling": ["1"]}, "Invalid filter 'dangling=[1]'"),
    (image_filters, {"reference": ["a["]}, "syntax error in pattern"),
    (volume_filters, {"dangling": ["maybe", "x"]}, "Invalid filter 'dangling=[maybe x]'"),
    (volume_filters, {"id": ["x"]}, "Invalid filter 'id'"),
    (network_filters, {"type": ["box"]}, "invalid filter: 'type'='box'"),
    (network_filters, {"dangling": ["1", "0"]}, 'got more than one value for filter key "dangling"'),
    (network_filters, {"dangling": ["yes"]}, "invalid value for filter 'dangling'"),
])
def test_refusals_in_dockerds_words(module, filters, words):
    with pytest.raises(EngineError) as ei:
        module.check(filters)
    assert str(ei.value).startswith(words)


def test_volume_and_network_matchers():
    v = {"Name": "data-1", "Driver": "local", "Labels": {"tier": "web"}}
    assert volume_filters.matcher({"name": ["^data"], "label": ["tier=web"], "dangling": ["1"]}, lambda n: False)(v)
    assert not volume_filters.matcher({"dangling": ["true", "false"]}, lambda n: True)(v)  # (true wins)
    assert not volume_filters.matcher({"driver": ["loc"]}, lambda n: False)(v)
    custom = {"Name": "n1", "Id": "abc123", "Driver": "bridge", "Labels": {}}
    builtin = {"Name": "host", "Id": "", "Driver": "host"}
    assert [network_filters.matcher({"dangling": ["true"]})(n) for n in (custom, builtin)] == [True, False]
    assert [network_filters.matcher({"type": ["builtin"]})(n) for n in (custom, builtin)] == [False, True]
    assert network_filters.matcher({"id": ["abc"], "driver": ["bridge"], "scope": ["local"]})(custom)


def test_details_prefix_is_sorted_query_escaped_attributes_then_a_space():
    cfg = {"HostConfig": {"LogConfig": {"Attrs": {"labels": "b,a,gone", "env": "E", "env-regex": "^X_"}}},
           "Config": {"Labels": {"a": "1", "b": "x y&z", "c": "no"}, "Env": ["E=v/1", "X_1=2", "Y=3"]}}
    assert details_prefix(cfg) == b"E=v%2F1,X_1=2,a=1,b=x+y%26z "
    assert details_prefix({"HostConfig": {}, "Config": {}}) == b" "
