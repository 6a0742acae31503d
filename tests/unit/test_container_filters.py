"""docker ps --filter's refusals in dockerd 20.10's words (held to a real dockerd in
tests/test_inspect.py) and moby's filters.Match. Pure."""
from __future__ import annotations

import pytest

from dunnage.core.container_filters import _go_match, check
from dunnage.core.errors import InvalidParameter


@pytest.mark.parametrize("filters, msg", [
    ({"bogus": ["1"]}, "Invalid filter 'bogus'"),
    ({"status": ["running", "nope"]}, "Invalid filter 'status=nope'"),
    ({"health": ["sick"]}, "Unrecognised filter value for health: sick"),
    ({"exited": ["x"]}, 'strconv.Atoi: parsing "x": invalid syntax'),
    ({"publish": ["80-x/tcp"]}, "Invalid filter 'publish=80-x/tcp'"),
])
def test_refusals(filters, msg):
    with pytest.raises(InvalidParameter) as ex:
        check(filters)
    assert str(ex.value) == msg


def test_good_filters_pass_and_match_is_mobys():
    check({"status": ["exited"], "exited": ["0", "137"], "health": ["none"], "publish": ["8000-9000/udp"],
           "label": ["a=b"], "name": ["web"]})
    assert _go_match("web", "/web-1") and _go_match("^/web$", "/web") and not _go_match("^web$", "/web")
    assert _go_match("[", "[") and not _go_match("[", "x[")  # no regexp: equal or nothing
