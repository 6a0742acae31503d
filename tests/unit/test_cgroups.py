"""Device rules as the cgroup v2 eBPF program takes them: parsed and compiled, not loaded
(that, and the groups themselves: tests/test_cgroups.py)."""
from __future__ import annotations

import pytest

from dunnage.core.cgroups.common import CgroupError


def test_device_rules_are_checked():
    from dunnage.core.cgroups import devices_bpf
    assert devices_bpf.parse_rule("c 1:3 rwm") == (2, 1, 3, 7)
    assert devices_bpf.parse_rule("b *:* m") == (1, -1, -1, 1)
    assert devices_bpf.parse_rule("a") == (0, -1, -1, 7)
    for bad in ("x 1:3 rwm", "c 1 rwm", "c 1:3 rwz", "c a:3 r", ""):
        with pytest.raises(CgroupError, match="invalid device rule"):
            devices_bpf.parse_rule(bad)
    assert len(devices_bpf.program(["a"])) == 8 * (6 + 2 + 2)  # prologue, one rule's allow, the final deny
