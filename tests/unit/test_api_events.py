"""GET /events' pure parts: docker's since/until times and its event filters."""
from __future__ import annotations

import pytest

from dunnage.api.errors import ApiError
from dunnage.api.events import parse_time
from dunnage.core.events import document, matches


def test_parse_time_seconds_and_nanoseconds():
    assert parse_time(None, "since") is None and parse_time("", "since") is None
    assert parse_time("1700000000", "since") == 1_700_000_000_000_000_000
    assert parse_time("1700000000.5", "until") == 1_700_000_000_500_000_000
    assert parse_time("1700000000.000000001", "until") == 1_700_000_000_000_000_001
    for bad, part in (("abc", "abc"), ("1.x", "x"), ("10m", "10m"), ("1.5.5", "5.5")):  # (dockerd's words, its 500)
        with pytest.raises(ApiError) as ei:
            parse_time(bad, "until")
        assert (ei.value.status, ei.value.message) == (500, f'strconv.ParseInt: parsing "{part}": invalid syntax')


def _doc(type_="container", action="create", id_="abc123", **attrs):
    return document({"time_ns": 1_700_000_000_123_456_789, "Type": type_, "Action": action, "id": id_,
                     "Attributes": attrs})


def test_document_is_dockers_shape():
    d = _doc(name="web", image="busybox")
    assert (d["status"], d["id"], d["from"], d["scope"]) == ("create", "abc123", "busybox", "local")
    assert (d["time"], d["timeNano"]) == (1_700_000_000, 1_700_000_000_123_456_789)
    assert d["Actor"] == {"ID": "abc123", "Attributes": {"name": "web", "image": "busybox"}}
    assert "status" not in _doc("volume", "create", "v1")


def test_filters():
    d = _doc(name="web", image="busybox", tier="front")
    assert matches(d, {})
    assert matches(d, {"container": ["web"]}) and matches(d, {"container": ["abc"]})
    assert not matches(d, {"container": ["db"]})
    assert matches(d, {"type": ["volume", "container"]}) and not matches(d, {"type": ["volume"]})
    assert matches(d, {"event": ["create"]}) and not matches(d, {"event": ["die"]})
    assert matches(_doc(action="exec_start: sh"), {"event": ["exec_start"]})
    assert matches(d, {"label": ["tier=front"]}) and matches(d, {"label": ["tier"]})
    assert not matches(d, {"label": ["tier=back"]}) and not matches(d, {"label": ["tier", "x"]})
    assert not matches(_doc("volume", "create", "web"), {"container": ["web"]})
    assert matches(d, {"image": ["busybox"]}) and not matches(d, {"image": ["alpine"]})
