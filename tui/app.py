"""The dashboard: containers with live CPU, memory and pids, from the cgroup files.

Every engine call runs in a worker thread, never on the UI loop.  A sampling
round is scheduled only after the previous one finished, and the events log is
followed so that changes made by another front show at once."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Optional

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import Hit, Hits, Provider
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Header, Input, Static

from dunnage.core import Engine, EngineError
from dunnage.core.units import bytes_binary

from .chart import Chart
from .logview import LogsScreen
from .table import LiveTable
from .page import cpu_ceiling, cpu_chart, mem_chart, not_running, rate
from .rows import ports_text, status_text

HISTORY = 60
# the least needed column last, so 80 columns show everything that moves
COLUMNS = [("name", "NAME"), ("status", "STATUS"), ("cpu", "CPU %"), ("mem", "MEM USED / LIMIT"),
           ("net", "NET ↓/↑"), ("io", "DISK R/W"), ("pids", "PIDS"), ("ports", "PORTS"), ("image", "IMAGE")]


def short_status(state: str, status: str) -> str:
    """'Up 19 minutes' -> 'Up 19 minutes'; 'Exited (137) 3 hours ago' -> 'Exited (137)'."""
    if state == "exited":
        return status.split(")")[0] + ")"
    return status


@dataclass
class Row:
    id: str
    name: str
    image: str
    state: str
    status: str
    cpu: float = 0.0
    mem: int = 0
    mem_limit: int = 0
    pids: int = 0
    pids_limit: Optional[int] = None
    cpu_limit: float = 0.0  # cores (--cpus), 0: none
    cpu_cores: float = 1.0  # the cores its CPU chart is full at: the limit, its cpuset or the host's
    cpu_what: str = ""      # what those are, for the chart's title
    periods: int = 0
    throttled: int = 0
    oom_kills: int = 0
    net_rx_rate: float = 0.0  # bytes per second
    net_tx_rate: float = 0.0
    io_read_rate: float = 0.0
    io_write_rate: float = 0.0
    net_packets: tuple = (0, 0)  # received, sent (totals)
    ports: str = ""
    cpu_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    net_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (rx, tx) rates; None: not sampled
    io_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    pids_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        lines = ["[b]dunnage: keys[/b]", ""]
        for key, what in (("↑/↓ j/k", "select a container"), ("space", "mark / unmark (actions take every mark)"),
                          ("enter", "the container's page: charts, top, inspect"),
                          ("s / x", "start / stop"), ("p", "pause / unpause"), ("R", "restart"),
                          ("K", "kill"), ("d", "remove (asks first if running)"), ("n", "rename"),
                          ("e", "a shell inside (exit to come back)"),
                          ("l", "logs (/ search, n/N next/prev, w save, t, f)"),
                          ("o / O", "sort: name, CPU, memory, net, disk, status / reverse"),
                          ("/", "filter by text or state; escape clears"),
                          ("I V N", "images, volumes, networks views"), ("r", "refresh now"),
                          ("ctrl+p", "command palette"), ("?", "this help"), ("q", "quit")):
            lines.append(f"  [b]{key:<9}[/b] {what}")
        lines += ["", "CPU %: 100 % = one whole core (docker's convention).",
                  "MEM: usage without reclaimable page cache, against the limit",
                  "(or the host's memory when there is none). NET, DISK: per second.", "", "escape closes"]
        yield Static("\n".join(lines), id="help-text")


class DunnageCommands(Provider):
    """The command palette (ctrl+p): every container action by name, and the views."""

    async def search(self, query: str) -> Hits:
        from functools import partial
        app = self.app
        matcher = self.matcher(query)
        cmds = [(f"view {v}", partial(app.action_view, v), f"the {v} view") for v in ("images", "volumes", "networks")]
        for cid, r in list(app.rows.items()):
            for verb in ("start", "stop", "restart", "pause", "unpause", "kill", "remove"):
                cmds.append((f"{verb} {r.name}", partial(app.engine_call, verb, cid), f"{r.image} · {r.status}"))
            cmds.append((f"logs {r.name}", partial(app.push_screen, LogsScreen(app.engine, cid, r.name)), "follow"))
            cmds.append((f"page {r.name}", partial(app.open_page, cid), "charts, top, inspect"))
        for text, callback, help_text in cmds:
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, help=help_text)


class DunnageApp(App):
    TITLE = "dunnage"
    SUB_TITLE = "containers"
    COMMANDS = App.COMMANDS | {DunnageCommands}
    CSS_PATH = "dunnage.tcss"
    AUTO_FOCUS = "#containers"
    BINDINGS = [
        Binding("q", "quit", "quit", id="quit"),
        Binding("s", "start", "start", id="start"),
        Binding("x", "stop", "stop", id="stop"),
        Binding("d", "remove", "remove", id="remove"),
        Binding("e", "exec_shell", "shell", id="exec_shell"),
        Binding("p", "pause", "pause", id="pause"),
        Binding("R", "restart", "restart", show=False, id="restart"),
        Binding("r", "refresh", "refresh", id="refresh"),
        Binding("l", "logs", "logs", id="logs"),
        Binding("o", "sort", "sort", id="sort"),
        Binding("O", "reverse", "reverse", show=False, id="reverse"),
        Binding("slash", "filter", "filter", id="filter"),
        Binding("escape", "clear_filter", "clear filter", show=False, id="clear_filter"),
        Binding("question_mark", "help", "help", id="help"),
        Binding("j", "cursor_down", "down", show=False, id="cursor_down"),
        Binding("k", "cursor_up", "up", show=False, id="cursor_up"),
        Binding("space", "mark", "mark", show=False, id="mark"),
        Binding("enter", "page", "page", show=False, id="page"),
        Binding("K", "kill", "kill", show=False, id="kill"),
        Binding("n", "rename", "rename", show=False, id="rename"),
        Binding("I", "view('images')", "images", id="view_images"),
        Binding("V", "view('volumes')", "volumes", show=False, id="view_volumes"),
        Binding("N", "view('networks')", "networks", show=False, id="view_networks"),
    ]

    # the container table's keys do nothing over another screen (images, a page, logs)
    MAIN_ONLY = {"start", "stop", "kill", "remove", "pause", "restart", "mark", "page", "view", "rename", "sort",
                 "reverse", "filter", "clear_filter", "cursor_down", "cursor_up", "logs", "exec_shell"}

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in self.MAIN_ONLY and len(self.screen_stack) > 1:
            return False
        return True

    def __init__(self, engine: Engine, interval: float = 1.0, theme: str | None = None,
                 keys: dict[str, str] | None = None):
        super().__init__()
        self.engine = engine
        self.interval = interval
        self.start_theme = theme
        self.start_keys = keys or {}
        self.rows: dict[str, Row] = {}
        self._prev: dict = {}  # each container's previous sample (Engine.sample)
        self._events_off = 0
        self._sampling = False
        self.rounds = 0  # sampling rounds done (tests wait on it)
        self.sort_by = "name"
        self.sort_reverse = False
        self.filter_text = ""
        self._timer = None
        self.marked: set[str] = set()
        self._shown: dict[str, dict] = {}  # the cells on screen, per row

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="main"):
            yield Input(placeholder="filter: text, or running / exited / paused … (enter applies, escape clears)",
                        id="filter")
            yield LiveTable(id="containers", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="detail"):
                yield Chart("CPU %", id="cpu-chart", classes="chart")
                yield Chart("MEM", id="mem-chart", classes="chart")
        yield Footer()

    def on_mount(self) -> None:
        if self.start_theme:
            self.theme = self.start_theme
        if self.start_keys:
            self.set_keymap(self.start_keys)
        self.query_one("#filter", Input).display = False
        t = self.query_one("#containers", DataTable)
        for key, title in COLUMNS:
            t.add_column(title, key=key)
        self._events_off = self.engine.events_since(0)[1]
        self.sample()
        self.set_interval(0.25, self.check_events)

    # ------------------------------------------------------------ data
    @work(thread=True, exclusive=True, group="sample")
    def sample(self) -> None:
        """One round: read every container's cgroup, then schedule the next."""
        self._sampling = True
        try:
            data = self._collect()
            self.call_from_thread(self._apply, data)
        finally:
            self._sampling = False
            self.call_from_thread(self._schedule_next)

    def _schedule_next(self) -> None:
        # one pending round at most, however many samples were asked for
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.interval, self.sample, name="next-sample")

    def _collect(self) -> list[Row]:
        out = []
        for c in self.engine.containers(all_=True):
            old = self.rows.get(c.id)
            r = Row(c.id, c.name, c.config["ImageName"], c.status, status_text(c))
            if old:
                r.cpu_hist, r.mem_hist = old.cpu_hist, old.mem_hist
            if old:
                r.net_hist, r.io_hist, r.pids_hist = old.net_hist, old.io_hist, old.pids_hist
            r.cpu_limit = (c.config["HostConfig"].get("NanoCpus") or 0) / 1e9
            r.cpu_cores, r.cpu_what = cpu_ceiling(r.cpu_limit, c.config["HostConfig"].get("CpusetCpus"))
            s = self.engine.sample(c) if c.status == "running" else None
            if s is not None:
                prev = self._prev.get(c.id)
                f = self.engine.stats_between(c, prev, s)
                self._prev[c.id] = s
                r.cpu = f.cpu_percent
                r.mem, r.mem_limit = f.mem_usage, f.mem_limit
                r.pids, r.pids_limit = f.pids, f.pids_limit
                r.periods, r.throttled, r.oom_kills = s.nr_periods, s.nr_throttled, s.oom_kills
                r.net_packets = (f.net_rx_packets, f.net_tx_packets)
                r.net_rx_rate, r.net_tx_rate = f.net_rx_rate, f.net_tx_rate
                r.io_read_rate, r.io_write_rate = f.io_read_rate, f.io_write_rate
                first = prev is None  # no rates yet from a first sample: a gap, not a zero
                r.cpu_hist.append(None if first else r.cpu)
                r.mem_hist.append(r.mem)
                r.net_hist.append(None if first else (r.net_rx_rate, r.net_tx_rate))
                r.io_hist.append(None if first else (r.io_read_rate, r.io_write_rate))
                r.pids_hist.append(r.pids)
                r.ports = ports_text(self.engine.published_ports(c))
            elif self._prev.pop(c.id, None) is not None:  # stopped since the last round
                self.engine.forget_samples(c.id)
            if s is None and r.cpu_hist:  # a gap in the history, so its time axis stays true
                hists = (r.cpu_hist, r.mem_hist, r.net_hist, r.io_hist, r.pids_hist)
                for h in hists:
                    h.append(None)
                if all(v is None for v in r.cpu_hist):
                    for h in hists:
                        h.clear()
            out.append(r)
        for gone in set(self._prev) - {r.id for r in out}:  # removed since the last round
            del self._prev[gone]
            self.engine.forget_samples(gone)
        return out

    SORTS = ("name", "cpu", "mem", "net", "io", "status")
    STATES = ("running", "exited", "paused", "created", "restarting")

    def _visible(self, data: list[Row]) -> list[Row]:
        f = self.filter_text.strip().lower()
        if f in self.STATES:
            rows = [r for r in data if r.state == f]
        elif f:
            rows = [r for r in data if f in r.name.lower() or f in r.image.lower() or f in r.status.lower()]
        else:
            rows = list(data)
        key = {"name": lambda r: r.name, "cpu": lambda r: r.cpu, "mem": lambda r: r.mem,
               "net": lambda r: r.net_rx_rate + r.net_tx_rate, "io": lambda r: r.io_read_rate + r.io_write_rate,
               "status": lambda r: (r.state, r.name)}[self.sort_by]
        rows.sort(key=key, reverse=self.sort_reverse)
        return rows

    def _apply(self, data: list[Row]) -> None:
        self.rounds += 1
        t = self.query_one("#containers", DataTable)
        selected = self.selected_id()
        self.rows = {r.id: r for r in data}
        visible = self._visible(data)

        def cells(r: Row) -> dict:
            running = r.state == "running"
            return {
                "name": ("● " if r.id in self.marked else "") + r.name, "image": r.image,
                "status": short_status(r.state, r.status),
                "net": f"{rate(r.net_rx_rate)}/{rate(r.net_tx_rate)}" if running else "-",
                "io": f"{rate(r.io_read_rate)}/{rate(r.io_write_rate)}" if running else "-",
                "ports": r.ports if running else "",
                "cpu": f"{r.cpu:6.2f}%" if running else "-",
                "mem": f"{bytes_binary(r.mem)} / {bytes_binary(r.mem_limit)}" if running else "-",
                "pids": (f"{r.pids}" + (f"/{r.pids_limit}" if r.pids_limit else "")) if running else "-",
            }

        # rows are added, updated and removed in place, then put in order: no
        # rebuild of the table on each round, whatever the sort
        order = [r.id for r in visible]
        for cid in [k.value for k in t.rows if k.value not in set(order)]:
            t.remove_row(cid)
        shown = self._shown
        for cid in list(shown):
            if cid not in t.rows or cid not in set(order):
                shown.pop(cid, None)
        changes = []
        for r in visible:
            c = cells(r)
            if r.id in t.rows:
                old = shown.get(r.id, {})  # only what changed is set
                changes += [(r.id, key, v) for key, v in c.items() if old.get(key) != v]
            else:
                t.add_row(*[c[k] for k, _ in COLUMNS], key=r.id)
            shown[r.id] = c
        t.set_cells(changes)
        if [row.key.value for row in t.ordered_rows] != order:
            rank = {cid: i for i, cid in enumerate(order)}
            by_name = {cells(r)["name"]: r.id for r in visible}
            t.sort("name", key=lambda name: rank[by_name[name]])
        if selected in order:
            t.move_cursor(row=t.get_row_index(selected))
        arrow = "↑" if self.sort_reverse else "↓"
        self.marked &= set(self.rows)
        sub = f"containers · sort {self.sort_by} {arrow}" + (
            f" · filter “{self.filter_text}”" if self.filter_text else "") + (
            f" · {len(self.marked)} marked" if self.marked else "")
        if self.sub_title != sub:
            self.sub_title = sub
        self.update_detail()

    def action_logs(self) -> None:
        cid = self.selected_id()
        if cid:
            self.push_screen(LogsScreen(self.engine, cid, self.rows[cid].name))

    def action_sort(self) -> None:
        i = self.SORTS.index(self.sort_by)
        self.sort_by = self.SORTS[(i + 1) % len(self.SORTS)]
        self.sort_reverse = self.sort_by in ("cpu", "mem", "net", "io")  # biggest first
        self._apply(list(self.rows.values()))

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply(list(self.rows.values()))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Submitted, "#filter")
    def filter_done(self, event: Input.Submitted) -> None:
        self.filter_text = event.value
        event.input.display = False
        self.query_one("#containers", DataTable).focus()
        self._apply(list(self.rows.values()))

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display or self.filter_text:
            box.display = False
            self.filter_text = ""
            self.query_one("#containers", DataTable).focus()
            self._apply(list(self.rows.values()))

    def selected_id(self) -> Optional[str]:
        from .views import cursor_key
        return cursor_key(self.query_one("#containers", DataTable))

    def update_detail(self) -> None:
        r = self.rows.get(self.selected_id() or "")
        detail = self.query_one("#detail")
        name = r.name if r else ""
        if detail.border_title != name:
            detail.border_title = name
        note = not_running(r) if r else ""
        slots = HISTORY
        for sel, (data, scale, title) in (("#cpu-chart", cpu_chart(r) if r else ([], None, "CPU %")),
                                          ("#mem-chart", mem_chart(r) if r else ([], None, "MEM"))):
            self.query_one(sel, Chart).show(data, scale, title, note, slots=slots, window=slots * self.interval)

    @on(DataTable.RowHighlighted)
    def highlighted(self, _event) -> None:
        self.update_detail()

    @on(DataTable.RowSelected, "#containers")
    def selected_row(self, _event) -> None:  # enter on the table: the container's page
        self.action_page()

    def check_events(self) -> None:
        recs, self._events_off = self.engine.events_since(self._events_off)
        if recs and not self._sampling:
            self.sample()

    # ------------------------------------------------------------ actions
    def action_cursor_down(self) -> None:
        self.query_one("#containers", DataTable).action_cursor_down()

    def action_cursor_up(self) -> None:
        self.query_one("#containers", DataTable).action_cursor_up()

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_refresh(self) -> None:
        self.sample()

    @work(thread=True, group="action")
    def engine_call(self, verb: str, cid: str, arg: str = "") -> None:
        try:
            if verb == "kill":
                self.engine.kill(cid)
            elif verb == "rename":
                self.engine.rename(cid, arg)
            elif verb == "start":
                self.engine.start(cid)
            elif verb == "stop":
                self.engine.stop(cid, 10)
            elif verb == "remove":
                self.engine.remove(cid, force=True)
            elif verb == "pause":
                self.engine.pause(cid)
            elif verb == "unpause":
                self.engine.unpause(cid)
            elif verb == "restart":
                self.engine.restart(cid, 10)
        except EngineError as e:
            self.call_from_thread(self.notify, str(e), severity="error")
        self.call_from_thread(self.sample)

    def targets(self) -> list[str]:
        """The marked containers, or the selected one."""
        if self.marked:
            return [cid for cid in self.marked if cid in self.rows]
        cid = self.selected_id()
        return [cid] if cid else []

    def _each(self, verb: str, ing: str) -> None:
        ids = self.targets()
        if ids:
            self.notify(f"{ing} {', '.join(self.rows[c].name for c in ids)}")
            for cid in ids:
                self.engine_call(verb, cid)
            self.marked.clear()

    def action_mark(self) -> None:
        cid = self.selected_id()
        if cid:
            self.marked ^= {cid}
            self._apply(list(self.rows.values()))
            self.action_cursor_down()

    def action_start(self) -> None:
        self._each("start", "starting")

    def action_stop(self) -> None:
        self._each("stop", "stopping")

    def action_kill(self) -> None:
        self._each("kill", "killing")

    def action_pause(self) -> None:
        ids = self.targets()
        if ids:
            paused = all(self.rows[c].state == "paused" for c in ids)
            self._each("unpause" if paused else "pause", "unpausing" if paused else "pausing")

    def action_restart(self) -> None:
        self._each("restart", "restarting")

    def action_page(self) -> None:
        cid = self.selected_id()
        if cid:
            self.open_page(cid)

    def open_page(self, cid: str) -> None:
        from .page import ContainerScreen
        self.push_screen(ContainerScreen(self.engine, cid))

    def action_view(self, kind: str) -> None:
        from .views import ImagesScreen, NetworksScreen, VolumesScreen
        self.push_screen({"images": ImagesScreen, "volumes": VolumesScreen, "networks": NetworksScreen}[kind](
            self.engine))

    def action_rename(self) -> None:
        from .views import AskScreen
        cid = self.selected_id()
        if not cid:
            return

        def done(name) -> None:
            if name:
                self.engine_call("rename", cid, name)
        self.push_screen(AskScreen(f"rename {self.rows[cid].name} to:"), done)

    def action_exec_shell(self) -> None:
        """A shell inside the selected container, in this terminal; the dashboard
        steps aside and comes back when the shell exits."""
        import subprocess
        import sys
        cid = self.selected_id()
        if not cid or self.rows[cid].state != "running":
            self.notify("select a running container first", severity="warning")
            return
        cmd = [sys.executable, "-m", "dunnage.tui.cli", "--root", str(self.engine.store.root),
               "exec", "-it", cid, "sh"]
        with self.suspend():
            code = subprocess.call(cmd)
        if code not in (0, 130):
            self.notify(f"the shell exited with {code}", severity="warning")
        self.sample()

    def action_remove(self) -> None:
        from .views import ConfirmScreen
        ids = self.targets()
        if not ids:
            return
        running = [self.rows[c].name for c in ids if self.rows[c].state in ("running", "paused", "restarting")]

        def go(ok: bool = True) -> None:
            if ok:
                for cid in ids:
                    self.engine_call("remove", cid)
                self.marked.clear()
        if running:
            what = running[0] if len(running) == 1 else f"{len(running)} containers"
            self.push_screen(ConfirmScreen(f"{what} {'is' if len(running) == 1 else 'are'} running. "
                                           "Kill and remove?"), go)
        else:
            go()


def binding_ids() -> set[str]:
    return {b.id for b in DunnageApp.BINDINGS if b.id}


def run_app(engine: Engine) -> int:
    from . import config
    try:
        s = config.load(actions=binding_ids(), themes=set(App().available_themes))
    except config.ConfigError as e:
        raise EngineError(f"config {e}") from None
    DunnageApp(engine, s.interval, s.theme, s.keys).run()
    return 0
