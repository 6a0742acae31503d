"""The containers table: a DataTable whose live values cost only the cells that changed.

textual's DataTable.update_cell bumps a counter that is part of every render
cache key, so one changed memory figure re-renders every visible cell of the
table through rich (most of the dashboard's own CPU once a second).  set_cells
changes a batch of values and forgets only the cached renders of those cells
and their rows, then repaints only those rows (a text wider than its column
still takes the slow way).  It leans on DataTable's caches
(textual is pinned to one minor release for that, and for the screen
snapshots); where they are not what it expects it falls back to update_cell."""
from __future__ import annotations

from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey


class LiveTable(DataTable):
    _CACHES = ("_cell_render_cache", "_row_render_cache", "_row_renderable_cache", "_line_cache")

    def set_cells(self, changes: list[tuple[str, str, str]]) -> None:
        """Set (row key, column key, text) cells.  A text wider than its column
        goes through update_cell, which measures the column again (a pass over
        all of its cells, and every render forgotten): rare once columns settle."""
        narrow = []
        for row, col, value in changes:
            if len(value) > self.columns[ColumnKey(col)].content_width:
                self.update_cell(row, col, value, update_width=True)
            else:
                narrow.append((row, col, value))
        if not narrow:
            return
        if not all(hasattr(self, c) for c in self._CACHES):
            for row, col, value in narrow:
                self.update_cell(row, col, value)
            return
        cells, rows = set(), set()
        for row, col, value in narrow:
            rk, ck = RowKey(row), ColumnKey(col)
            if rk not in self._row_locations or ck not in self._column_locations:
                raise CellDoesNotExist(f"No cell exists for row_key={rk!r}, column_key={ck!r}.")
            self._data[rk][ck] = value
            cells.add((rk, ck))
            rows.add(rk)
        indexes = {self._row_locations.get(rk) for rk in rows}
        # keys: (row, column, ...) for cells, (row, line, ...) for rows, (update count, row index)
        for key in [k for k in self._cell_render_cache.keys() if (k[0], k[1]) in cells]:
            self._cell_render_cache.discard(key)
        for key in [k for k in self._row_render_cache.keys() if k[0] in rows]:
            self._row_render_cache.discard(key)
        for key in [k for k in self._row_renderable_cache.keys() if k[1] in indexes]:
            self._row_renderable_cache.discard(key)
        self._line_cache.clear()  # keyed by screen line: joined again from the cached rows
        for index in indexes:
            self.refresh_row(index)
