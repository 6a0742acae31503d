"""The prunes' filters (core/prune_filters.py): the pure parts, as dockerd 20.10 decides
them (timetypes.GetTimestamp, matchLabels, each prune's keys).  No root."""
from __future__ import annotations

import pytest

from dunnage.core.errors import EngineError
from dunnage.core.prune_filters import Selection, dangling_only, go_timestamp

NOW = 1_700_000_000_750_000_000


@pytest.mark.parametrize("value, ns", [
    ("10m", 1_700_000_000_000_000_000 - 600 * 10**9),     # a duration back from now, in whole seconds
    ("1h30m", 1_700_000_000_000_000_000 - 5400 * 10**9),
    ("1.5h", 1_700_000_000_000_000_000 - 5400 * 10**9),
    ("-2m", 1_700_000_000_000_000_000 + 120 * 10**9),
    ("300ms", 1_700_000_000_000_000_000),
    ("0", 0),                                             # "0" is a unix time, not a duration
    ("1700000000", 1_700_000_000 * 10**9),
    ("1700000000.5", 1_700_000_000_500_000_000),
    ("2020-01-01T00:00:00Z", 1_577_836_800 * 10**9),
    ("2020-01-01T10:00:00+02:00", 1_577_865_600 * 10**9),
])
def test_go_timestamp(value, ns):
    assert go_timestamp(value, NOW) == ns


@pytest.mark.parametrize("value", ["bad", "", "1e3", "m", "10x", "yesterday"])
def test_go_timestamp_refusal_in_dockerds_words(value):
    with pytest.raises(EngineError) as ei:
        go_timestamp(value, NOW)
    assert (str(ei.value), ei.value.status, ei.value.exit_code) == \
        (f'failed to parse value as time or duration: "{value}"', 500, 1)


@pytest.mark.parametrize("kind, filters, words, status", [
    ("containers", {"dangling": ["true"]}, "Invalid filter 'dangling'", 400),
    ("volumes", {"until": ["1h"]}, "Invalid filter 'until'", 400),
    ("volumes", {"all": ["1"]}, "Invalid filter 'all'", 400),
    ("networks", {"until": ["1h", "2h"]}, "more than one until filter specified", 500),
    ("images", {"dangling": ["x"]}, "Invalid filter 'dangling=[x]'", 400),
])
def test_refusals(kind, filters, words, status):
    with pytest.raises(EngineError) as ei:
        Selection(kind, filters)
    assert (str(ei.value), ei.value.status, ei.value.exit_code) == (words, status, 1)


def test_labels_and_until_as_matchlabels():
    t = "2023-11-14T22:13:20Z"  # NOW's second
    sel = Selection("containers", {"label": ["a", "b=2"], "label!": ["c"]})
    assert sel.lets_go({"a": "1", "b": "2"}, t)
    assert not sel.lets_go({"a": "1", "b": "3"}, t) and not sel.lets_go({}, t)
    assert not sel.lets_go({"a": "1", "b": "2", "c": ""}, t)
    both = Selection("containers", {"label!": ["c", "d=1"]})  # (excluded only when every label! matches)
    assert both.lets_go({"c": "x"}, t) and not both.lets_go({"c": "x", "d": "1"}, t) and both.lets_go(None, t)
    assert Selection("networks", {"until": ["1700000000"]}).lets_go({}, t)
    assert not Selection("networks", {"until": ["1699999999"]}).lets_go({}, t)
    assert not Selection("containers", {}) and Selection("volumes", {"label": ["x"]})


def test_dangling():
    assert dangling_only({}) and dangling_only({"dangling": ["x", "true"]})
    assert not dangling_only({"dangling": ["true", "false"]}) and not dangling_only({"dangling": ["0"]})
