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
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, RichLog, Sparkline, Static

from dunnage.core import Engine, EngineError
from dunnage.core import events as ev
from dunnage.core.cgroups import CgroupStats, cpu_percent
from dunnage.core.engine import container_status_text
from dunnage.core.units import bytes_binary

HISTORY = 60
# the least needed column last, so 80 columns show everything that moves
COLUMNS = [("name", "NAME"), ("status", "STATUS"), ("cpu", "CPU %"), ("mem", "MEM USED / LIMIT"),
           ("pids", "PIDS"), ("image", "IMAGE")]


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
    cpu_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def compose(self) -> ComposeResult:
        lines = ["[b]dunnage: keys[/b]", ""]
        for key, what in (("↑/↓ j/k", "select a container"), ("s", "start"), ("x", "stop"),
                          ("e", "a shell inside (exit to come back)"), ("p", "pause / unpause"),
                          ("R", "restart"),
                          ("d", "remove (asks first if running)"), ("r", "refresh now"),
                          ("l", "logs, followed (t timestamps, f pause, escape back)"),
                          ("o / O", "sort by name, CPU, memory, status / reverse"),
                          ("/", "filter by text or state; escape clears"),
                          ("?", "this help"), ("q", "quit")):
            lines.append(f"  [b]{key:<9}[/b] {what}")
        lines += ["", "CPU %: 100 % = one whole core (docker's convention).",
                  "MEM: usage without reclaimable page cache, against the limit",
                  "(or the host's memory when there is none).", "", "escape closes"]
        yield Static("\n".join(lines), id="help-text")


class LogsScreen(Screen):
    """A container's log, followed live: stderr in red, t toggles timestamps."""
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("t", "timestamps", "timestamps"),
                Binding("f", "follow", "follow/pause")] + [
        # the container table's keys mean nothing here
        Binding(k, "nothing", show=False) for k in ("s", "x", "d", "e", "p", "R", "r", "o", "O", "l", "slash")]

    def action_nothing(self) -> None:
        pass

    def __init__(self, engine: Engine, cid: str, name: str):
        super().__init__()
        self.engine, self.cid, self.cname = engine, cid, name
        self.records: list = []
        self.show_time = False
        self.following = True
        self.stopped = False

    def on_unmount(self) -> None:
        self.stopped = True  # the follower thread ends within one poll

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="log", highlight=False, markup=False, wrap=False, max_lines=100_000)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"logs · {self.cname}"
        self.tail()

    @work(thread=True, exclusive=True)
    def tail(self) -> None:
        try:
            for rec in self.engine.logs(self.cid, follow=True, stop=lambda: self.stopped):
                if self.stopped:
                    return
                self.app.call_from_thread(self.add, rec)
        except EngineError as e:
            self.app.call_from_thread(self.notify, str(e), severity="error")

    def _render_rec(self, rec):
        import datetime as dt
        from rich.text import Text
        t, stream, data = rec
        text = data.decode(errors="replace").rstrip("\n")
        if self.show_time:
            stamp = dt.datetime.fromtimestamp(t / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ ")
            text = "\n".join(stamp + line for line in text.split("\n"))
        return Text(text, style="red" if stream == "stderr" else "")

    def add(self, rec) -> None:
        self.records.append(rec)
        if self.following:
            self.query_one("#log", RichLog).write(self._render_rec(rec))

    def redraw(self) -> None:
        log = self.query_one("#log", RichLog)
        log.clear()
        for rec in self.records:
            log.write(self._render_rec(rec))

    def action_timestamps(self) -> None:
        self.show_time = not self.show_time
        self.redraw()

    def action_follow(self) -> None:
        self.following = not self.following
        self.notify("following" if self.following else "paused (f resumes)")
        if self.following:
            self.redraw()


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("y", "yes", "yes"), Binding("n,escape", "no", "no")]

    def __init__(self, question: str):
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label(self.question, id="question")
            yield Button("Yes (y)", variant="error", id="yes")
            yield Button("No (n)", variant="primary", id="no")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


class DunnageApp(App):
    TITLE = "dunnage"
    SUB_TITLE = "containers"
    CSS_PATH = "dunnage.tcss"
    AUTO_FOCUS = "#containers"
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("s", "start", "start"),
        Binding("x", "stop", "stop"),
        Binding("d", "remove", "remove"),
        Binding("e", "exec_shell", "shell"),
        Binding("p", "pause", "pause"),
        Binding("R", "restart", "restart", show=False),
        Binding("r", "refresh", "refresh"),
        Binding("l", "logs", "logs"),
        Binding("o", "sort", "sort"),
        Binding("O", "reverse", "reverse", show=False),
        Binding("slash", "filter", "filter"),
        Binding("escape", "clear_filter", "clear filter", show=False),
        Binding("question_mark", "help", "help"),
        Binding("j", "cursor_down", "down", show=False),
        Binding("k", "cursor_up", "up", show=False),
    ]

    def __init__(self, engine: Engine, interval: float = 1.0):
        super().__init__()
        self.engine = engine
        self.interval = interval
        self.rows: dict[str, Row] = {}
        self._prev: dict[str, CgroupStats] = {}  # each container's previous sample
        self._events_off = 0
        self._sampling = False
        self.rounds = 0  # sampling rounds done (tests wait on it)
        self.sort_by = "name"
        self.sort_reverse = False
        self.filter_text = ""
        self._timer = None

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="main"):
            yield Input(placeholder="filter: text, or running / exited / paused … (enter applies, escape clears)",
                        id="filter")
            yield DataTable(id="containers", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="detail"):
                with Vertical(classes="chart"):
                    yield Label("CPU", id="cpu-label")
                    yield Sparkline([], id="cpu-spark")
                with Vertical(classes="chart"):
                    yield Label("MEM", id="mem-label")
                    yield Sparkline([], id="mem-spark")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#filter", Input).display = False
        t = self.query_one("#containers", DataTable)
        for key, title in COLUMNS:
            t.add_column(title, key=key)
        self._events_off = ev.read(self.engine.store, 0)[1]
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
            r = Row(c.id, c.name, c.config["ImageName"], c.status, container_status_text(c))
            if old:
                r.cpu_hist, r.mem_hist = old.cpu_hist, old.mem_hist
            s = self.engine.sample(c) if c.status == "running" else None
            if s is not None:
                r.cpu = cpu_percent(self._prev.get(c.id), s)
                self._prev[c.id] = s
                r.mem, r.mem_limit = s.mem_usage, s.mem_limit or 0
                r.pids, r.pids_limit = s.pids_current, s.pids_limit
                r.cpu_hist.append(r.cpu)
                r.mem_hist.append(r.mem)
            else:
                self._prev.pop(c.id, None)
            out.append(r)
        return out

    SORTS = ("name", "cpu", "mem", "status")
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
                "name": r.name, "image": r.image, "status": short_status(r.state, r.status),
                "cpu": f"{r.cpu:6.2f}%" if running else "-",
                "mem": f"{bytes_binary(r.mem)} / {bytes_binary(r.mem_limit)}" if running else "-",
                "pids": (f"{r.pids}" + (f"/{r.pids_limit}" if r.pids_limit else "")) if running else "-",
            }

        # rows are added, updated and removed in place, then put in order: no
        # rebuild of the table on each round, whatever the sort
        order = [r.id for r in visible]
        for cid in [k.value for k in t.rows if k.value not in set(order)]:
            t.remove_row(cid)
        for r in visible:
            c = cells(r)
            if r.id in t.rows:
                for key, v in c.items():
                    t.update_cell(r.id, key, v, update_width=True)
            else:
                t.add_row(*[c[k] for k, _ in COLUMNS], key=r.id)
        if [row.key.value for row in t.ordered_rows] != order:
            rank = {cid: i for i, cid in enumerate(order)}
            by_name = {r.name: r.id for r in visible}
            t.sort("name", key=lambda name: rank[by_name[name]])
        if selected in order:
            t.move_cursor(row=t.get_row_index(selected))
        arrow = "↑" if self.sort_reverse else "↓"
        self.sub_title = f"containers · sort {self.sort_by} {arrow}" + (
            f" · filter “{self.filter_text}”" if self.filter_text else "")
        self.update_detail()

    def action_logs(self) -> None:
        cid = self.selected_id()
        if cid:
            self.push_screen(LogsScreen(self.engine, cid, self.rows[cid].name))

    def action_sort(self) -> None:
        i = self.SORTS.index(self.sort_by)
        self.sort_by = self.SORTS[(i + 1) % len(self.SORTS)]
        self.sort_reverse = self.sort_by in ("cpu", "mem")  # biggest first
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
        t = self.query_one("#containers", DataTable)
        if not t.row_count:
            return None
        try:
            return t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001
            return None

    def update_detail(self) -> None:
        r = self.rows.get(self.selected_id() or "")
        cpu = self.query_one("#cpu-spark", Sparkline)
        mem = self.query_one("#mem-spark", Sparkline)
        detail = self.query_one("#detail")
        if r is None or r.state != "running":
            cpu.data, mem.data = [], []
            detail.border_title = r.name if r else ""
            self.query_one("#cpu-label", Label).update("CPU %: not running" if r else "CPU %")
            self.query_one("#mem-label", Label).update("MEM")
            return
        detail.border_title = r.name
        # a leading 0 anchors the scale at zero, so a flat line reads as flat
        cpu.data = [0.0] + list(r.cpu_hist)
        mem.data = [0] + list(r.mem_hist)
        self.query_one("#cpu-label", Label).update(f"CPU {r.cpu:.1f}% (100% = 1 core)")
        self.query_one("#mem-label", Label).update(
            f"MEM {bytes_binary(r.mem)} / {bytes_binary(r.mem_limit)} (no cache)")

    @on(DataTable.RowHighlighted)
    def highlighted(self, _event) -> None:
        self.update_detail()

    def check_events(self) -> None:
        recs, self._events_off = ev.read(self.engine.store, self._events_off)
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
    def engine_call(self, verb: str, cid: str) -> None:
        try:
            if verb == "start":
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

    def action_start(self) -> None:
        cid = self.selected_id()
        if cid:
            self.notify(f"starting {self.rows[cid].name}")
            self.engine_call("start", cid)

    def action_stop(self) -> None:
        cid = self.selected_id()
        if cid:
            self.notify(f"stopping {self.rows[cid].name}")
            self.engine_call("stop", cid)

    def action_pause(self) -> None:
        cid = self.selected_id()
        if cid:
            paused = self.rows[cid].state == "paused"
            self.notify(f"{'unpausing' if paused else 'pausing'} {self.rows[cid].name}")
            self.engine_call("unpause" if paused else "pause", cid)

    def action_restart(self) -> None:
        cid = self.selected_id()
        if cid:
            self.notify(f"restarting {self.rows[cid].name}")
            self.engine_call("restart", cid)

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
        cid = self.selected_id()
        if not cid:
            return
        r = self.rows[cid]
        if r.state == "running":
            def done(ok: bool) -> None:
                if ok:
                    self.engine_call("remove", cid)
            self.push_screen(ConfirmScreen(f"{r.name} is running. Kill and remove it?"), done)
        else:
            self.engine_call("remove", cid)


def run_app(engine: Engine) -> int:
    DunnageApp(engine).run()
    return 0
