"""A container's page: live charts with history (CPU against its limit with
throttling, memory against its limit with OOM kills, network and disk rates,
pids), its processes (top), inspect as a tree, and its files with the layer
each comes from.  The history is the
dashboard's own sampling; nothing here reads the cgroup files again."""
from __future__ import annotations

import os

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.screen import Screen
from textual.widgets import ContentSwitcher, DataTable, Header, Tab, Tabs, Tree

from dunnage.core import Engine, EngineError
from dunnage.core.units import bytes_binary

from .chart import Chart, Scale, auto_top, fmt
from .footer import Footer
from .rows import short_ids
from .views import fill_tree

CHARTS = [("cpu", "CPU"), ("mem", "MEM"), ("net", "NET"), ("io", "DISK"), ("pids", "PIDS")]
HOST_MEMORY = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def rate(n: float) -> str:
    """Bytes per second, compactly: 0, 512B, 12K, 3.4M."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{n:.0f}B" if n else "0"


def cpu_ceiling(limit: float, cpuset: str | None = None, host: int | None = None) -> tuple[float, str]:
    """The cores a container's CPU chart is full at, and what they are: its
    --cpus limit, else the cores of its --cpuset-cpus, else the host's."""
    if limit:
        return limit, f"{limit:g} CPU limit"
    if cpuset:
        n = 0
        for part in cpuset.split(","):
            a, _, b = part.partition("-")
            n += int(b or a) - int(a) + 1
        return n, f"cpuset of {n} core{'s' * (n != 1)}"
    n = host or os.cpu_count() or 1
    return n, f"host's {n} core{'s' * (n != 1)}"


def not_running(r) -> str:
    """What a chart of a container that is not sampled says instead of bars."""
    return "" if r.state == "running" else "paused" if r.state == "paused" else "not running"


def cpu_chart(r, detail: bool = False) -> tuple:
    """(data, scale, title) of a container's CPU chart: % of one core (docker's
    convention), full at its limit or its cores."""
    if not_running(r):
        return [], None, "CPU %"
    title = f"CPU {r.cpu:.1f}% · full = {r.cpu_what}"
    if detail and r.periods:
        title += f" · throttled {100 * r.throttled / r.periods:.0f}%"  # of its CFS periods so far
    return list(r.cpu_hist), Scale(r.cpu_cores * 100, "%"), title


def mem_chart(r, detail: bool = False) -> tuple:
    """Memory without reclaimable cache, full at the limit or the host's memory."""
    if not_running(r) or not r.mem_limit:
        return [], None, "MEM · OOM-killed" if getattr(r, "oom_killed", False) else "MEM"
    what = f"{fmt(r.mem_limit, 'B')} limit" if r.mem_limit < HOST_MEMORY else f"host's {fmt(r.mem_limit, 'B')}"
    title = f"MEM {bytes_binary(r.mem)} · full = {what}"
    if detail and r.oom_kills:
        title += f" · OOM kills: {r.oom_kills}"
    elif r.mem >= 0.9 * r.mem_limit and r.mem_limit < HOST_MEMORY:
        title += " · ⚠ near its limit"
    return list(r.mem_hist), Scale(r.mem_limit, "B"), title


def _sums(hist) -> list:
    return [None if x is None else x[0] + x[1] for x in hist]


def page_charts(r) -> dict[str, tuple]:
    """Every chart of a container's page: key -> (data, scale, title)."""
    out = {"cpu": cpu_chart(r, True), "mem": mem_chart(r, True)}
    if not_running(r):
        return out | {"net": ([], None, "NET"), "io": ([], None, "DISK"), "pids": ([], None, "PIDS")}
    net, io = _sums(r.net_hist), _sums(r.io_hist)
    out["net"] = (net, Scale(auto_top(net, 1e3), "B/s", False),
                  f"NET ↓ {rate(r.net_rx_rate)}/s ↑ {rate(r.net_tx_rate)}/s"
                  f" · packets ↓ {r.net_packets[0]} ↑ {r.net_packets[1]}")
    out["io"] = (io, Scale(auto_top(io, 1e3), "B/s", False),
                 f"DISK read {rate(r.io_read_rate)}/s write {rate(r.io_write_rate)}/s")
    pids = list(r.pids_hist)
    if r.pids_limit:
        out["pids"] = (pids, Scale(r.pids_limit, ""), f"PIDS {r.pids} · full = {r.pids_limit} limit")
    else:
        out["pids"] = (pids, Scale(auto_top(pids, 1), "", False), f"PIDS {r.pids} · no limit")
    return out


class ContainerScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("l", "logs", "logs"),
                Binding("e", "shell", "shell"), Binding("1", "tab('stats')", "stats"),
                Binding("2", "tab('top')", "top"), Binding("3", "tab('inspect')", "inspect"),
                Binding("4", "tab('files')", "files")]

    def __init__(self, engine: Engine, cid: str):
        super().__init__()
        self.engine, self.cid = engine, cid
        self.top_rounds = 0

    TABS = [("stats", "stats (1)"), ("top", "top (2)"), ("inspect", "inspect (3)"), ("files", "files (4)")]
    PANES = {"stats": "charts", "top": "top-table", "inspect": "page-tree", "files": "files-tree"}

    def compose(self) -> ComposeResult:
        """The charts only: the other tabs' widgets are built when they are first shown (with
        Textual's TabbedContent and every tab's widgets, the page's first frame took half again
        as long, with 50 containers listed)."""
        yield Header()
        yield Tabs(*(Tab(label, id=name) for name, label in self.TABS))
        with ContentSwitcher(initial="charts", id="page-body"):
            with Grid(id="charts"):
                for key, title in CHARTS:
                    yield Chart(title, id=f"page-{key}", classes="chart")
        yield Footer()

    def on_mount(self) -> None:
        row = self.app.rows.get(self.cid)
        self.sub_title = row.name if row else self.cid[:12]
        self.redraw()
        self.set_interval(1.0, self.redraw)

    def action_tab(self, name: str) -> None:
        self.query_one(Tabs).active = name
        self.show_tab(name)

    FOCUS = {"top": "#top-table", "inspect": "#page-tree", "files": "#files-tree"}

    def show_tab(self, name: str) -> None:
        """The tab's pane, built the first time; its own widget takes the keys, so its arrows
        and enter work at once."""
        body = self.query_one("#page-body", ContentSwitcher)
        pane = self.PANES[name]
        if not body.query_children(f"#{pane}"):
            body.mount(self.build(name))
        body.current = pane
        if name in self.FOCUS:
            self.query_one(self.FOCUS[name]).focus()

    def build(self, name: str):
        """A tab's widget, with what keeps it current (top and inspect every 2 s: a health
        check's streak, a state that changes)."""
        if name == "top":
            self.call_later(self.load_top)
            self.set_interval(2.0, self.load_top)
            return DataTable(id="top-table", zebra_stripes=True)
        if name == "inspect":
            self.call_later(self.load_inspect)
            self.set_interval(2.0, self.load_inspect)
            return Tree("inspect", id="page-tree")
        return FilesTree(self.engine, self.cid)

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        self.show_tab(event.tab.id or "stats")

    def action_logs(self) -> None:
        from .logview import LogsScreen
        row = self.app.rows.get(self.cid)
        self.app.push_screen(LogsScreen(self.engine, self.cid, row.name if row else self.cid[:12]))

    def action_shell(self) -> None:
        self.app.action_exec_shell()

    def redraw(self) -> None:
        r = self.app.rows.get(self.cid)
        if r is None:
            return
        note, slots = not_running(r), r.cpu_hist.maxlen
        for key, (data, scale, title) in page_charts(r).items():
            alert = key == "mem" and bool(r.oom_kills or r.oom_killed or "⚠" in title)
            self.query_one(f"#page-{key}", Chart).show(data, scale, title, note, alert,
                                                       slots=slots, window=slots * self.app.interval)

    @work(thread=True, exclusive=True, group="top")
    def load_top(self) -> None:
        try:
            titles, rows = self.engine.top(self.cid)
        except EngineError:
            titles, rows = ["PID", "CMD"], []
        self.app.call_from_thread(self._show_top, titles, rows)

    def _show_top(self, titles, rows) -> None:
        t = self.query_one("#top-table", DataTable)
        if not t.columns:
            for title in titles:
                t.add_column(title, key=title)
        t.clear()
        for row in rows:
            t.add_row(*(row + [""] * (len(titles) - len(row)))[:len(titles)])
        self.top_rounds += 1

    @work(thread=True, exclusive=True, group="inspect")
    def load_inspect(self) -> None:
        try:
            doc = self.engine.inspect(self.cid)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self._show_inspect, doc)

    def _show_inspect(self, doc: dict) -> None:
        """The tree again when the document changed, with the same branches open and the
        cursor on the same path."""
        if doc == getattr(self, "_doc", None):
            return
        self._doc = doc
        tree = self.query_one("#page-tree", Tree)
        opened = {n.data for n in walk(tree.root) if n.is_expanded and n is not tree.root}
        at = tree.cursor_node.data if tree.cursor_node is not None else None
        tree.clear()
        tree.root.set_label(doc.get("Name", "").lstrip("/") or self.cid[:12])
        fill_tree(tree.root, doc)
        tree.root.expand()
        for n in walk(tree.root):
            if n.data in opened:
                n.expand()
        if at is not None:
            node = next((n for n in walk(tree.root) if n.data == at), None)
            if node is not None:
                self.call_after_refresh(tree.move_cursor, node)
        self.inspect_rounds = getattr(self, "inspect_rounds", 0) + 1


def walk(node):
    yield node
    for child in node.children:
        yield from walk(child)


class FilesTree(Tree):
    """A container's files, loaded a directory at a time as branches open, each
    labelled with where it comes from (an image layer, or the container itself)."""

    STYLE = {"added": "green", "changed": "yellow", "init": "dim"}

    def __init__(self, engine: Engine, cid: str):
        super().__init__("/", data="/", id="files-tree")
        self.engine, self.cid = engine, cid
        self.loaded_dirs: set[str] = set()

    def on_mount(self) -> None:
        self.load("/", self.root)
        self.root.expand()

    def on_tree_node_expanded(self, event: Tree.NodeExpanded) -> None:
        path = event.node.data
        if path not in self.loaded_dirs:
            self.load(path, event.node)

    @work(thread=True, group="files")
    def load(self, path: str, node) -> None:
        try:
            entries = self.engine.files(self.cid, path)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self._fill, path, node, entries)

    def _fill(self, path: str, node, entries: list[dict]) -> None:
        from rich.text import Text
        self.loaded_dirs.add(path)
        node.remove_children()
        for e in entries:
            label = Text(e["Name"] + ("/" if e["Type"] == "dir" else ""))
            label.append(f"  {e['Origin']}", style=self.STYLE.get(e["Origin"], "cyan"))
            if e["Type"] == "dir":
                node.add(label, data=e["Path"], allow_expand=True)
            else:
                node.add_leaf(label, data=e["Path"])
