"""A container's page: live charts with history (CPU against its limit with
throttling, memory against its limit with OOM kills, network and disk rates,
pids), its processes (top), inspect as a tree, and its files with the layer
each comes from.  The history is the
dashboard's own sampling; nothing here reads the cgroup files again."""
from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, TabbedContent, TabPane, Tree

from dunnage.core import Engine, EngineError
from dunnage.core.units import bytes_binary

from .chart import Chart
from .views import fill_tree

CHARTS = [("cpu", "CPU"), ("mem", "MEM"), ("net", "NET"), ("io", "DISK"), ("pids", "PIDS")]


def rate(n: float) -> str:
    """Bytes per second, compactly: 0, 512B, 12K, 3.4M."""
    for unit, div in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            v = n / div
            return f"{v:.1f}{unit}" if v < 10 else f"{v:.0f}{unit}"
    return f"{n:.0f}B" if n else "0"


class ContainerScreen(Screen):
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("l", "logs", "logs"),
                Binding("e", "shell", "shell"), Binding("1", "tab('stats')", "stats"),
                Binding("2", "tab('top')", "top"), Binding("3", "tab('inspect')", "inspect"),
                Binding("4", "tab('files')", "files")]

    def __init__(self, engine: Engine, cid: str):
        super().__init__()
        self.engine, self.cid = engine, cid
        self.top_rounds = 0

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(initial="stats"):
            with TabPane("stats (1)", id="stats"):
                with Grid(id="charts"):
                    for key, title in CHARTS:
                        with Vertical(classes="chart"):
                            yield Label(title, id=f"{key}-title")
                            yield Chart([], id=f"page-{key}")
            with TabPane("top (2)", id="top"):
                yield DataTable(id="top-table", zebra_stripes=True)
            with TabPane("inspect (3)", id="inspect"):
                yield Tree("inspect", id="page-tree")
            with TabPane("files (4)", id="files"):
                yield FilesTree(self.engine, self.cid)
        yield Footer()

    def on_mount(self) -> None:
        row = self.app.rows.get(self.cid)
        self.sub_title = row.name if row else self.cid[:12]
        self.redraw()
        self.set_interval(1.0, self.redraw)
        self.set_interval(2.0, self.load_top)
        self.load_top()
        self.load_inspect()

    def action_tab(self, name: str) -> None:
        self.query_one(TabbedContent).active = name

    def action_logs(self) -> None:
        from .app import LogsScreen
        row = self.app.rows.get(self.cid)
        self.app.push_screen(LogsScreen(self.engine, self.cid, row.name if row else self.cid[:12]))

    def action_shell(self) -> None:
        self.app.action_exec_shell()

    def redraw(self) -> None:
        r = self.app.rows.get(self.cid)
        if r is None:
            return
        lim_cpu = r.cpu_limit * 100 if r.cpu_limit else None
        # the chart's top is the limit where there is one: the limit is drawn as the ceiling
        self._chart("cpu", list(r.cpu_hist), lim_cpu,
                    f"CPU {r.cpu:.1f}%" + (f" of {lim_cpu:.0f}% limit" if lim_cpu else " (100% = 1 core)")
                    + (f" · throttled {r.throttled} of {r.periods} periods" if r.periods else ""))
        self._chart("mem", list(r.mem_hist), r.mem_limit or None,
                    f"MEM {bytes_binary(r.mem)} / {bytes_binary(r.mem_limit)}"
                    + (f" · OOM kills: {r.oom_kills}" if r.oom_kills else ""),
                    alert=bool(r.oom_kills))
        self._chart("net", [a + b for a, b in r.net_hist], None,
                    f"NET ↓ {rate(r.net_rx_rate)}/s ↑ {rate(r.net_tx_rate)}/s"
                    f" · packets ↓ {r.net_packets[0]} ↑ {r.net_packets[1]}")
        self._chart("io", [a + b for a, b in r.io_hist], None,
                    f"DISK read {rate(r.io_read_rate)}/s write {rate(r.io_write_rate)}/s")
        self._chart("pids", list(r.pids_hist), r.pids_limit,
                    f"PIDS {r.pids}" + (f" / {r.pids_limit}" if r.pids_limit else ""))

    def _chart(self, key: str, data: list, ceiling, title: str, alert: bool = False) -> None:
        spark = self.query_one(f"#page-{key}", Chart)
        spark.data = [0] + data + ([ceiling] if ceiling and data else [])
        label = self.query_one(f"#{key}-title", Label)
        label.update(title)
        label.set_class(alert, "alert")

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
            self.app.call_from_thread(self.notify, str(e), severity="error")
            return
        self.app.call_from_thread(self._show_inspect, doc)

    def _show_inspect(self, doc: dict) -> None:
        tree = self.query_one("#page-tree", Tree)
        tree.clear()
        tree.root.set_label(doc.get("Name", "").lstrip("/") or self.cid[:12])
        fill_tree(tree.root, doc)
        tree.root.expand()


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
            self.app.call_from_thread(self.notify, str(e), severity="error")
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
