"""A compose project's row in the dashboard (issue 21): its containers' CPU and memory added
up, as lazydocker's services view shows a project's."""
from __future__ import annotations

from dunnage.tui.app import GROUP, DunnageApp, Row


def test_a_project_row_adds_up_its_containers_cpu_and_memory():
    rows = [Row("a", "p-web-1", "img", "running", "Up", cpu=12.5, mem=10 << 20, pids=3),
            Row("b", "p-web-2", "img", "running", "Up", cpu=30.25, mem=20 << 20, pids=4),
            Row("c", "p-db-1", "img", "paused", "Paused", cpu=0.0, mem=5 << 20, pids=1),
            Row("d", "p-seed-1", "img", "exited", "Exited (0)", cpu=0.0, mem=0)]
    g = DunnageApp._group_row(None, "p", rows)
    assert (g.id, g.name, g.state) == (GROUP + "p", "p", "running")
    assert g.status == "2/4 running, 1 paused"
    assert g.cpu == 42.75  # the running ones'
    assert g.mem == 35 << 20 and g.pids == 8  # the paused one's memory and pids are still held
    stopped = DunnageApp._group_row(None, "p", [Row("d", "p-seed-1", "img", "exited", "Exited (0)")])
    assert (stopped.state, stopped.status, stopped.cpu, stopped.mem) == ("exited", "0/1 running", 0.0, 0)
