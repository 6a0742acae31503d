"""The dashboard's own table widget with no engine behind it (the dashboard on real
containers: tests/test_tui.py)."""
from __future__ import annotations


async def test_live_table_repaints_the_cells_it_sets():
    """set_cells skips DataTable's whole-table invalidation: what is on screen must
    still be the new value, in the row it belongs to, and nothing else moves."""
    from textual.app import App
    from dunnage.tui.table import LiveTable

    class One(App):
        def compose(self):
            yield LiveTable(id="t")

    app = One()
    async with app.run_test(size=(60, 10)) as pilot:
        t = app.query_one(LiveTable)
        t.add_column("name", key="name")
        t.add_column("mem", key="mem")
        for i in range(5):
            t.add_row(f"c{i}", "1.0MiB", key=f"c{i}")
        await pilot.pause(0.1)

        def screen_lines():
            return [t.render_line(y).text for y in range(t.size.height)]
        before = screen_lines()
        assert sum("1.0MiB" in line for line in before) == 5
        t.set_cells([("c3", "mem", "2.5MiB"), ("c1", "mem", "9.9MiB")])
        await pilot.pause(0.1)
        after = screen_lines()
        assert [line for line in after if "c3" in line][0].split()[1] == "2.5MiB"
        assert [line for line in after if "c1" in line][0].split()[1] == "9.9MiB"
        assert [a for a, b in zip(after, before) if a != b] and \
            all(a == b for a, b in zip(after, before) if "c1" not in a and "c3" not in a)
        assert t.get_cell("c3", "mem") == "2.5MiB"
