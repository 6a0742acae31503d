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
from textual.binding import Binding, BindingsMap
from textual.command import Hit, Hits, Provider
from textual.markup import escape
from textual.containers import Container, Horizontal, Vertical
from textual.screen import ModalScreen
from rich.text import Text
from textual.widgets import ContentSwitcher, DataTable, Header, Input, Static, Tree

from dunnage.core import Engine, EngineError
from dunnage.core.units import bytes_binary

from . import textual_fixes  # noqa: F401  (applied on import)
from .chart import Chart
from .footer import Footer
from .logview import LogsScreen, LogView
from .table import LiveTable
from .page import HOST_MEMORY, cpu_ceiling, cpu_chart, mem_chart, not_running, rate
from .rows import ports_text, short_ids, status_text

HISTORY = 60
# the least needed column last, so 80 columns show everything that moves
COLUMNS = [("name", "NAME"), ("status", "STATUS"), ("cpu", "CPU %"), ("mem", "MEM USED / LIMIT"),
           ("net", "NET ↓/↑ B/s"), ("io", "DISK R/W B/s"), ("pids", "PIDS"), ("ports", "PORTS"), ("image", "IMAGE")]


ACTIVE = ("running", "paused", "restarting")  # listed above the others under every sort
STATE_RANK = {"running": 0, "restarting": 1, "paused": 2, "created": 3, "exited": 4}
DESCENDING = ("cpu", "mem", "net", "io", "pids")  # sorted biggest first at first
NEAR_LIMIT = 0.9  # memory at this share of a real limit is marked: it thrashes or is OOM-killed soon
GROUP = "compose:"  # a project's row's key: GROUP + its name (container keys are hex ids)
PROJECT_LABEL = "com.docker.compose.project"


def short_status(state: str, status: str, oom: bool = False) -> str:
    """'Up 19 minutes' -> 'Up 19 minutes'; 'Exited (137) 3 hours ago' -> 'Exited (137)', with
    ' OOM' when the kernel's OOM killer ended it."""
    if state == "exited":
        return status.split(")")[0] + ")" + (" OOM" if oom else "")
    return status


# RGB that land on the intended colour of the 16 too (TERM=xterm-16color: rich takes the
# nearest); ANSI names would go through the theme's ANSI palette first and land elsewhere
# (yellow became bright red, red magenta)
STATUS_STYLE = {"running": "#00d700", "paused": "#d7d700", "restarting": "#d75fd7", "exited": "#d75f5f",
                "created": "#5fafd7"}
ALERT = "bold #ff0000"


def status_cell(r: "Row", pending: str = "") -> Text:
    """The STATUS cell in its state's colour; an OOM kill, an unhealthy check and an
    action under way stand out."""
    if pending:
        return Text(pending, style="bold " + STATUS_STYLE["restarting"])
    text = short_status(r.state, r.status, r.oom_killed)
    if r.oom_killed and r.state == "exited" or "(unhealthy)" in text:
        return Text(text, style=ALERT)
    return Text(text, style=STATUS_STYLE.get(r.state, ""))


GAUGE = 6  # cells of a gauge in the list (wide terminals only)
WIDE = 140  # columns from which the list has room for gauges


def gauge(share: float, width: int = GAUGE) -> Text:
    """ctop's gauge: SHARE (0..1) of WIDTH cells filled in eighths, green, yellow from
    70 %, red from 90 %, the rest dotted."""
    share = max(0.0, min(1.0, share))
    full, part = divmod(round(share * width * 8), 8)
    bar = "█" * full + ("▏▎▍▌▋▊▉"[part - 1] if part else "")
    colour = STATUS_STYLE["running"] if share < 0.7 else STATUS_STYLE["paused"] if share < NEAR_LIMIT else "#ff0000"
    return Text.assemble((bar, colour), ("·" * (width - len(bar)), "#585858"))


def cpu_cell(r: "Row", wide: bool = False) -> Text | str:
    """CPU %, with a gauge against its limit or its cores where there is room."""
    if r.state != "running":
        return "-"
    text = f"{r.cpu:6.2f}%"
    if not wide:
        return text
    return gauge(r.cpu / (100 * r.cpu_cores) if r.cpu_cores else 0.0) + Text(" " + text)


def mem_cell(r: "Row", wide: bool = False) -> Text | str:
    """MEM USED / LIMIT, in the alert colour near a limit of its own (not the host's
    memory); with a gauge against the limit where there is room."""
    if r.state not in ("running", "paused"):
        return "-"
    text = f"{bytes_binary(r.mem)} / {bytes_binary(r.mem_limit)}"
    near = r.mem_limit and r.mem_limit < HOST_MEMORY and r.mem >= NEAR_LIMIT * r.mem_limit
    cell = Text("⚠ " + text, style=ALERT) if near else Text(text) if wide else text
    if wide:
        return gauge(r.mem / r.mem_limit if r.mem_limit else 0.0) + Text(" ") + cell
    return cell


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
    oom_killed: bool = False  # the record's State.OOMKilled: the kernel ended it at its memory limit
    ports: str = ""
    project: str = ""  # its com.docker.compose.project label: the list groups by it
    cpu_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    mem_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    net_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))  # (rx, tx) rates; None: not sampled
    io_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))
    pids_hist: deque = field(default_factory=lambda: deque(maxlen=HISTORY))


# what help says of an action where its footer word is too short
HELP = {"cursor_down": "select the next container", "cursor_up": "select the previous one",
        "mark": "mark / unmark (actions take every mark)", "page": "the container's page: charts, top, inspect",
        "start": "start", "stop": "stop", "pause": "pause / unpause", "restart": "restart", "kill": "kill",
        "remove": "remove (asks first if running)", "rename": "rename", "exec_shell": "a shell inside (exit comes back)",
        "shell": "a shell inside (exit comes back)",
        "logs": "logs (/ search, n/N next/prev, w save, t time, f follow)",
        "sort": "sort by the next column: name, CPU, memory, net, disk, status", "reverse": "reverse the sort",
        "filter": "filter by text or state (running, exited…)", "clear_filter": "clear the filter",
        "view('images')": "images", "view('volumes')": "volumes", "view('networks')": "networks",
        "refresh": "refresh now", "help": "this help", "quit": "quit", "app.pop_screen": "back",
        "command_palette": "command palette",
        "detail_tab(1)": "the detail pane's next tab: stats, logs, env, top, config",
        "detail_tab(-1)": "the detail pane's previous tab", "hide_stopped": "hide / show stopped containers",
        "layout": "the detail pane under the list / beside it",
        "attach": "attach to its main process (ctrl-p ctrl-q detaches)",
        "browse": "open its published port in the web browser",
        "bulk": "bulk: stop all, remove stopped, prune images/volumes/networks",
        "project_model": "the settings file's custom commands, to run one on the container; on a compose "
                         "project's row: its resolved model (enter folds it; s up, x stop, R restart, "
                         "p pause / unpause, K kill, d down, l all its services' logs)",
        "mouse": "mouse to the terminal (select, copy) / back",
        "command_line": "command: images, logs NAME, exec NAME sh, stop NAME… (↑ recalls)",
        "wrap": "wrap long lines / cut them at the edge",
        "since": "read the log again from a time on: 10m, 2h, a unix or an ISO time (0: from the start)",
        "tail_lines": "read the log again from its last N lines on (all: the whole log)"}
NOTES = ["CPU %: 100 % = one whole core (docker's convention). MEM: usage without reclaimable page cache, "
         "against the limit (or the host's memory when there is none; ⚠ near a limit). NET, DISK: bytes per "
         "second. Click a column's header to sort by it. Stopped containers stay below running ones."]


def help_rows(screen) -> list[tuple[str, str]]:
    """(keys, what) of every binding that works on SCREEN, as the keys are now bound
    (a remap included): its own first, then the dashboard's."""
    app = screen.app
    found: dict[str, list[str]] = {}
    words: dict[str, str] = {}
    for key, active in screen.active_bindings.items():
        b = active.binding
        cls = type(active.node)
        if active.node is not app and not (cls.__module__.startswith("dunnage") and "BINDINGS" in cls.__dict__):
            continue  # Textual's widgets' own (a table's page keys)
        if not active.enabled or (b.action in app.MAIN_ONLY and app.check_action(b.action, ()) is False):
            continue
        if b.action == "app.pop_screen" and len(app.screen_stack) == 1:
            continue
        found.setdefault(b.action, []).append(app.get_key_display(b))
        words.setdefault(b.action, HELP.get(b.action) or custom_help(app, b.action) or b.description or b.action)
    for b in (b for bs in app._bindings.key_to_bindings.values() for b in bs):
        if b.action not in found and b.action in app.MAIN_ONLY and app.check_action(b.action, ()) is not False \
                and len(app.screen_stack) == 1:  # a key a widget shadows with the same deed (enter)
            found[b.action] = [app.get_key_display(b)]
            words[b.action] = HELP.get(b.action, b.description)
    of_app = {b.action for bs in app._bindings.key_to_bindings.values() for b in bs}
    own = [a for a in found if a not in of_app]
    rest = [a for a in found if a not in own]
    keyless = []  # the custom commands without a key of their own: c, the palette and : run them
    if app.check_action("custom_command", ()) is not False:
        keyless = [(f":{c.name}", custom_help(app, f"custom_command({i})"))
                   for i, c in enumerate(getattr(app, "custom", ())) if f"custom_command({i})" not in found]
    return [(" ".join(dict.fromkeys(found[a])), words[a]) for a in own + rest] + keyless


def custom_help(app, action: str) -> str:
    """What help says of a custom command: its name and what it runs."""
    import re
    m = re.fullmatch(r"custom_command\((\d+)\)", action)
    custom = getattr(app, "custom", [])
    if not m or int(m.group(1)) >= len(custom):
        return ""
    c = custom[int(m.group(1))]
    return f"{c.name}: {c.description or c.command}" + (" (in this terminal)" if c.attach else "") + (
        " (on a compose project's row, or a container's project)" if c.scope == "project" else "")


PREFIX_COLOURS = ("#5fd7d7", "#d7d700", "#00d700", "#d75fd7", "#5fafd7", "#d78700")


class TextScreen(ModalScreen):
    """A text to read and scroll: a compose project's logs or its resolved model."""
    BINDINGS = [Binding("escape,q", "dismiss", "close")]

    def __init__(self, title: str, text: Text):
        super().__init__()
        self.title_text, self.text = title, text

    def compose(self) -> ComposeResult:
        from textual.containers import VerticalScroll
        with VerticalScroll(id="text-view"):
            yield Static(self.text, id="text-body")

    def on_mount(self) -> None:
        box = self.query_one("#text-view")
        box.border_title = self.title_text
        box.focus()
        if self.title_text.startswith("logs"):  # the newest lines in view, as a log opens
            box.scroll_end(animate=False)


class HelpScreen(ModalScreen):
    """The keys of the screen it was opened over, from the bindings themselves (so a
    remap in the settings file shows); scrolls with the keyboard where it does not fit."""
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "close")]

    def __init__(self, rows: list[tuple[str, str]], notes: list[str]):
        super().__init__()
        self.rows, self.notes = rows, notes

    def compose(self) -> ComposeResult:
        from rich.table import Table
        from textual.containers import VerticalScroll
        t = Table.grid(padding=(0, 2))
        t.add_column(style="bold", no_wrap=True)
        t.add_column()
        for keys, what in self.rows:
            t.add_row(keys, what)
        with VerticalScroll(id="help"):
            yield Static("[b]dunnage: keys[/b]  (escape closes; ↑/↓ scroll)", id="help-title")
            yield Static(t, id="help-text")
            for n in self.notes:
                yield Static(n, classes="help-note")

    def on_mount(self) -> None:
        self.query_one("#help").focus()


class OutputScreen(ModalScreen):
    """A custom command run in the background: its output as it comes, in the logs' view
    (colours drawn, long lines wrapped, a big output quick), the title saying whether it
    still runs or how it exited.  Closing it ends a command still running (its whole
    process group)."""
    BINDINGS = [Binding("escape,q", "close", "close")]

    def __init__(self, title: str, argv: list[str], env: dict, cwd: Optional[str] = None):
        super().__init__()
        self.title_text, self.argv, self.env, self.cwd = title, argv, env, cwd
        self.proc = None
        self.exit_code: int | None = None

    @property
    def texts(self) -> list[str]:
        """The lines so far, without their colours."""
        return self.query_one("#output-log").texts

    def compose(self) -> ComposeResult:
        yield LogView(id="output-log")

    def on_mount(self) -> None:
        box = self.query_one("#output-log")
        box.set_wrap(True)
        box.border_title = f"{escape(self.title_text)} · running"
        box.border_subtitle = "escape closes"
        box.focus()
        self.run_it()

    @work(thread=True, exit_on_error=False)
    def run_it(self) -> None:
        import subprocess
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd,
                                         start_new_session=True)
        except OSError as e:
            self.app.call_from_thread(self._line, str(e))
            self.app.call_from_thread(self._done, 127)
            return
        partial = b""
        while chunk := self.proc.stdout.read1(65536):  # what came at once, in one call (a big output is quick)
            *lines, partial = (partial + chunk).split(b"\n")
            if lines:
                self.app.call_from_thread(self._lines, [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines])
        if partial:
            self.app.call_from_thread(self._line, partial.decode("utf-8", "replace").rstrip("\r"))
        self.app.call_from_thread(self._done, self.proc.wait())

    def _line(self, line: str) -> None:
        self._lines([line])

    def _lines(self, lines: list[str]) -> None:
        if self.is_attached:
            self.query_one("#output-log").append((0, "stdout", line) for line in lines)

    def _done(self, code: int) -> None:
        self.exit_code = code
        if not self.is_attached:
            return
        box = self.query_one("#output-log")
        box.border_title = f"{escape(self.title_text)} · " + (
            "done" if code == 0 else f"killed by signal {-code}" if code < 0 else f"exit {code}")
        if not self.texts:
            self._line("(no output)")

    def action_close(self) -> None:
        self.end()
        self.dismiss()

    def on_unmount(self) -> None:
        self.end()  # the dashboard quit over it

    def end(self) -> None:
        import os
        import signal
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass


# the actions the palette offers for a container in each state
APPLIES = {"running": ("stop", "restart", "pause", "kill", "remove"), "paused": ("unpause", "stop", "kill", "remove"),
           "restarting": ("stop", "kill", "remove"), "exited": ("start", "remove"), "created": ("start", "remove")}


class DunnageCommands(Provider):
    """The command palette (ctrl+p): every container action by name, and the views."""

    async def search(self, query: str) -> Hits:
        from functools import partial
        app = self.app
        matcher = self.matcher(query)
        cmds = [(f"view {v}", partial(app.action_view, v), f"the {v} view") for v in ("images", "volumes", "networks")]
        for cid, r in list(app.rows.items()):
            for verb in APPLIES.get(r.state, ("remove",)):
                cmds.append((f"{verb} {r.name}", partial(app.act_on, verb, cid), f"{r.image} · {r.status}"))
            cmds.append((f"logs {r.name}", partial(app.push_screen, LogsScreen(app.engine, cid, r.name)), "follow"))
            cmds.append((f"page {r.name}", partial(app.open_page, cid), "charts, top, inspect"))
            for i, c in enumerate(app.custom):
                if c.scope == "container":
                    cmds.append((f"{c.name} {r.name}", partial(app.custom_command_on, i, cid),
                                 f"custom command: {c.description or c.command}"))
        for name in sorted({r.project for r in app.rows.values() if r.project}):
            for verb, ing in (("up", "starting"), ("stop", "stopping"), ("restart", "restarting"),
                              ("pause", "pausing"), ("unpause", "unpausing"), ("kill", "killing")):
                cmds.append((f"compose {verb} {name}", partial(app.run_project, name, verb, ing), "compose project"))
            cmds.append((f"compose down {name}", partial(app.project_down, name), "compose project (asks first)"))
            cmds.append((f"compose logs {name}", partial(app.project_text, name, "logs"), "every service's log"))
            cmds.append((f"compose config {name}", partial(app.project_text, name, "model"), "the resolved model"))
            for i, c in enumerate(app.custom):
                if c.scope == "project":
                    cmds.append((f"{c.name} {name}", partial(app.custom_command_on, i, GROUP + name),
                                 f"custom command: {c.description or c.command}"))
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
    # the footer shows them in this order and 100 columns cut it off: the most used first
    BINDINGS = [
        Binding("q", "quit", "quit", id="quit"),
        Binding("question_mark", "help", "help", id="help"),
        Binding("l", "logs", "logs", id="logs"),
        Binding("e", "exec_shell", "shell", id="exec_shell"),
        Binding("s", "start", "start", id="start"),
        Binding("x", "stop", "stop", id="stop"),
        Binding("p", "pause", "pause", id="pause"),
        Binding("d", "remove", "remove", id="remove"),
        Binding("slash", "filter", "filter", id="filter"),
        Binding("o", "sort", "sort", id="sort"),
        Binding("R", "restart", "restart", show=False, id="restart"),
        Binding("r", "refresh", "refresh", show=False, id="refresh"),
        Binding("O", "reverse", "reverse", show=False, id="reverse"),
        Binding("escape", "clear_filter", "clear filter", show=False, id="clear_filter"),
        Binding("j", "cursor_down", "down", show=False, id="cursor_down"),
        Binding("k", "cursor_up", "up", show=False, id="cursor_up"),
        Binding("space", "mark", "mark", show=False, id="mark"),
        Binding("enter", "page", "page", show=False, id="page"),
        Binding("K", "kill", "kill", show=False, id="kill"),
        Binding("n", "rename", "rename", show=False, id="rename"),
        Binding("I", "view('images')", "images", show=False, id="view_images"),
        Binding("V", "view('volumes')", "volumes", show=False, id="view_volumes"),
        Binding("N", "view('networks')", "networks", show=False, id="view_networks"),
        Binding("colon", "command_line", "command", show=False, id="command_line", priority=True),
        Binding("a", "attach", "attach", show=False, id="attach"),
        Binding("W", "browse", "open port", show=False, id="browse"),
        Binding("v", "layout", "layout", show=False, id="layout"),
        Binding("b", "bulk", "bulk", show=False, id="bulk"),
        Binding("c", "project_model", "compose config", show=False, id="project_model"),
        Binding("m", "mouse", "mouse", show=False, id="mouse"),
        Binding("H", "hide_stopped", "hide stopped", show=False, id="hide_stopped"),
        Binding("right_square_bracket", "detail_tab(1)", "next tab", show=False, id="next_tab"),
        Binding("left_square_bracket", "detail_tab(-1)", "previous tab", show=False, id="previous_tab"),
    ]

    # the container table's keys do nothing over another screen (images, a page, logs)
    MAIN_ONLY = {"start", "stop", "kill", "remove", "pause", "restart", "mark", "page", "rename", "sort", "detail_tab",
                 "hide_stopped", "layout", "attach", "browse", "project_model", "custom_command",
                 "reverse", "filter", "clear_filter", "cursor_down", "cursor_up", "logs", "exec_shell"}

    # ... but these act on the container of its page, and the views open from any screen
    PAGE_TOO = {"start", "stop", "kill", "pause", "restart", "attach", "browse", "project_model", "custom_command"}

    def check_action(self, action: str, parameters: tuple) -> bool | None:
        from .page import ContainerScreen
        if action == "view":
            return not isinstance(self.screen, ModalScreen)
        if action == "command_line":  # a priority key: False lets it through to the input that has it
            return self.check_command_line()
        if action in self.MAIN_ONLY and len(self.screen_stack) > 1:
            return action in self.PAGE_TOO and isinstance(self.screen, ContainerScreen)
        return True

    def __init__(self, engine: Engine, interval: float = 1.0, theme: str | None = None,
                 keys: dict[str, str] | None = None, commands: list | None = None, problems: list[str] | None = None):
        super().__init__()
        self.engine = engine
        self.interval = interval
        self.start_theme = theme
        self.start_keys = keys or {}
        if self.start_keys:
            self._bindings = remapped(self._bindings, self._normalize_keymap(self.start_keys))
        self.problems = list(problems or [])  # the settings file's entries left out, said once the screen is up
        self.custom: list = []  # the settings file's custom commands (config.CustomCommand)
        self._add_custom(commands or [])
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
        self.pending: dict[str, str] = {}  # an action under way, per container: "stopping…"
        self.detail_tab = "stats"
        self.hide_stopped = False
        self.command_history: list[str] = []
        self._detail_key: tuple = (None, "")  # (container, tab) the detail pane shows
        self._detail_title = ""
        self.collapsed: set[str] = set()  # the compose projects whose containers are folded away

    # ------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="main"):
            yield Input(placeholder="filter: text, or running / exited / paused … (enter applies, escape clears)",
                        id="filter")
            with Container(id="body"):
                yield LiveTable(id="containers", cursor_type="row", zebra_stripes=True)
                # the selected container, live, in tabs named in the pane's top border ([ and ] switch)
                with ContentSwitcher(id="detail", initial="d-stats"):
                    with Horizontal(id="d-stats"):
                        yield Chart("CPU %", id="cpu-chart", classes="chart")
                        yield Chart("MEM", id="mem-chart", classes="chart")
                    yield LogView(id="d-logs")
                    yield DataTable(id="d-env", cursor_type="row", zebra_stripes=True)
                    yield DataTable(id="d-top", cursor_type="row", zebra_stripes=True)
                    yield Tree("config", id="d-config")
        yield Footer()

    def on_mount(self) -> None:
        if self.start_theme:
            self.theme = self.start_theme
        self.query_one("#filter", Input).display = False
        t = self.query_one("#containers", DataTable)
        for key, title in COLUMNS:
            t.add_column(title, key=key)
        self._events_off = self.engine.events_since(0)[1]
        self.sample()
        self.set_interval(0.25, self.check_events)
        for line in self.problems:
            self.notify(line, severity="error", timeout=30, markup=False)

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
            r.oom_killed = bool(c.state.get("OOMKilled"))
            r.project = (c.config["Config"].get("Labels") or {}).get(PROJECT_LABEL, "")
            # a paused container still holds its memory and processes: sampled too
            s = self.engine.sample(c) if c.status in ("running", "paused") else None
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
        if self.hide_stopped:
            rows = [r for r in rows if r.state in ACTIVE or r.id in self.pending]
        key = self.SORT_KEYS[self.sort_by]
        active = sorted((r for r in rows if r.state in ACTIVE), key=key, reverse=self.sort_reverse)
        rest = sorted((r for r in rows if r.state not in ACTIVE), key=key, reverse=self.sort_reverse)
        ordered = active + rest  # stopped containers below the live ones, whatever the sort
        if not any(r.project for r in ordered):
            return ordered
        members: dict[str, list[Row]] = {}
        for r in ordered:
            if r.project:
                members.setdefault(r.project, []).append(r)
        everyone: dict[str, list[Row]] = {}  # the aggregates count the filtered-out containers too
        for r in data:
            if r.project in members:
                everyone.setdefault(r.project, []).append(r)
        out = []
        for name in sorted(members):  # each project's row, then its containers; standalone ones apart, below
            out.append(self._group_row(name, everyone[name]))
            if name not in self.collapsed:
                out += members[name]
        return out + [r for r in ordered if not r.project]

    def _group_row(self, name: str, members: list[Row]) -> Row:
        """A compose project's row: its containers' CPU, memory, rates and pids added up."""
        live = [r for r in members if r.state == "running"]
        sampled = [r for r in members if r.state in ("running", "paused")]
        paused = len(sampled) - len(live)
        g = Row(GROUP + name, name, "", "running" if live else "paused" if paused else "exited",
                f"{len(live)}/{len(members)} running" + (f", {paused} paused" if paused else ""))
        g.cpu = sum(r.cpu for r in live)
        g.mem = sum(r.mem for r in sampled)
        g.pids = sum(r.pids for r in sampled)
        g.net_rx_rate, g.net_tx_rate = sum(r.net_rx_rate for r in live), sum(r.net_tx_rate for r in live)
        g.io_read_rate, g.io_write_rate = sum(r.io_read_rate for r in live), sum(r.io_write_rate for r in live)
        return g

    SORT_KEYS = {"name": lambda r: r.name, "cpu": lambda r: r.cpu, "mem": lambda r: r.mem,
                 "net": lambda r: r.net_rx_rate + r.net_tx_rate, "io": lambda r: r.io_read_rate + r.io_write_rate,
                 "status": lambda r: (STATE_RANK.get(r.state, 9), r.name), "pids": lambda r: r.pids,
                 "image": lambda r: (r.image, r.name), "ports": lambda r: (r.ports, r.name)}

    def _apply(self, data: list[Row]) -> None:
        self.rounds += 1
        t = self.query_one("#containers", DataTable)
        selected = self.cursor_key()
        self.rows = {r.id: r for r in data}
        visible = self._visible(data)

        wide = self.size.width >= WIDE

        def group_cells(g: Row) -> dict:
            name = g.name
            pending = self.pending.get(g.id, "")
            pad = " " * (GAUGE + 1) if wide else ""  # its figures under its containers', past their gauges
            return {
                "name": Text(("▸ " if name in self.collapsed else "▾ ") + name, style="bold"),
                "image": "compose project",
                "status": Text(pending, style="bold " + STATUS_STYLE["restarting"]) if pending else Text(
                    g.status, style=STATUS_STYLE[g.state]),
                "net": f"{rate(g.net_rx_rate)}/{rate(g.net_tx_rate)}" if g.state == "running" else "-",
                "io": f"{rate(g.io_read_rate)}/{rate(g.io_write_rate)}" if g.state == "running" else "-",
                "ports": "",
                "cpu": pad + f"{g.cpu:6.2f}%" if g.state == "running" else "-",
                "mem": pad + bytes_binary(g.mem) if g.mem else "-",
                "pids": f"{g.pids}" if g.pids else "-",
            }

        def cells(r: Row) -> dict:
            if r.id.startswith(GROUP):
                return group_cells(r)
            running = r.state == "running"
            sampled = r.state in ("running", "paused")
            return {
                "name": ("● " if r.id in self.marked else "") + r.name, "image": r.image,
                "status": status_cell(r, self.pending.get(r.id, "")),
                "net": f"{rate(r.net_rx_rate)}/{rate(r.net_tx_rate)}" if running else "-",
                "io": f"{rate(r.io_read_rate)}/{rate(r.io_write_rate)}" if running else "-",
                "ports": r.ports if sampled else "",
                "cpu": cpu_cell(r, wide),
                "mem": mem_cell(r, wide),
                "pids": (f"{r.pids}" + (f"/{r.pids_limit}" if r.pids_limit else "")) if sampled else "-",
            }

        # rows are added, updated and removed in place, then put in order: no
        # rebuild of the table on each round, whatever the sort
        order = [r.id for r in visible]
        removed = [k.value for k in t.rows if k.value not in set(order)]
        for cid in removed:
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
        if changes or removed:
            self._fit_columns(t, None if removed else {key for _, key, _ in changes})
        if [row.key.value for row in t.ordered_rows] != order:
            rank = {cid: i for i, cid in enumerate(order)}
            by_name = {str(cells(r)["name"]): r.id for r in visible}
            t.sort("name", key=lambda name: rank[by_name[str(name)]])
        if selected in order:
            t.move_cursor(row=t.get_row_index(selected))
        arrow = "↓" if self.sort_reverse else "↑"  # ↑ ascending (A→Z, least first), ↓ descending
        self._header_arrow(t, arrow)
        self.marked &= set(self.rows)
        sub = f"containers · sort {self.sort_by} {arrow}" + (
            f" · filter “{self.filter_text}”" if self.filter_text else "") + (
            " · stopped hidden (H shows)" if self.hide_stopped else "") + (
            f" · {len(self.marked)} marked" if self.marked else "")
        if self.sub_title != sub:
            self.sub_title = sub
        self.update_detail()

    def _fit_columns(self, t: DataTable, keys: Optional[set] = None) -> None:
        """A column narrows again to its widest value on screen (DataTable only widens:
        'Up Less than a second' kept STATUS 21 columns wide for the container's life).
        KEYS: the columns whose cells changed (None: all, a row went)."""
        from rich.cells import cell_len
        from textual.widgets.data_table import ColumnKey
        changed = False
        for key, _ in COLUMNS:
            if keys is not None and key not in keys:
                continue
            col = t.columns.get(ColumnKey(key))
            if col is None:
                continue
            want = max([col.label.cell_len] + [cell_len(str(c[key])) for c in self._shown.values()])
            if want < col.content_width:
                col.content_width = want
                changed = True
        if changed:
            t._require_update_dimensions = True
            t._clear_caches()
            t.refresh()

    def _header_arrow(self, t: DataTable, arrow: str) -> None:
        """The sorted column's header carries the arrow."""
        from textual.widgets.data_table import ColumnKey
        changed = False
        for key, title in COLUMNS:
            label = f"{title} {arrow}" if key == self.sort_by else title
            col = t.columns.get(ColumnKey(key))
            if col is not None and col.label.plain != label:
                col.label = Text(label)
                col.content_width = max(col.content_width, col.label.cell_len)
                changed = True
        if changed:
            t._require_update_dimensions = True
            t._clear_caches()
            t.refresh()

    @on(DataTable.HeaderSelected, "#containers")
    def header_sort(self, event: DataTable.HeaderSelected) -> None:
        """A click on a column's header sorts by it; a second click reverses."""
        key = event.column_key.value
        if key == self.sort_by:
            self.sort_reverse = not self.sort_reverse
        elif key in self.SORT_KEYS:
            self.sort_by, self.sort_reverse = key, key in DESCENDING
        self._apply(list(self.rows.values()))

    def action_logs(self) -> None:
        name = self.selected_project()
        if name:
            self.project_text(name, "logs")
            return
        cid = self.selected_id()
        if cid:
            self.push_screen(LogsScreen(self.engine, cid, self.rows[cid].name))

    def action_sort(self) -> None:
        i = self.SORTS.index(self.sort_by)
        self.sort_by = self.SORTS[(i + 1) % len(self.SORTS)]
        self.sort_reverse = self.sort_by in DESCENDING  # biggest first
        self._apply(list(self.rows.values()))

    def action_reverse(self) -> None:
        self.sort_reverse = not self.sort_reverse
        self._apply(list(self.rows.values()))

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_typed(self, event: Input.Changed) -> None:
        """The list filters as the text is typed (enter keeps it and goes back to the list)."""
        if event.input.display and event.value != self.filter_text:
            self.filter_text = event.value
            self._apply(list(self.rows.values()))

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

    def cursor_key(self) -> Optional[str]:
        """The key of the list's row under the cursor: a container's id or a project's GROUP key."""
        from .views import cursor_key
        return cursor_key(self.query_one("#containers", DataTable))

    def selected_id(self) -> Optional[str]:
        """The container under the cursor (None on a project's row)."""
        key = self.cursor_key()
        return None if key is None or key.startswith(GROUP) else key

    def selected_project(self) -> Optional[str]:
        """The compose project whose row is under the cursor."""
        key = self.cursor_key()
        return key[len(GROUP):] if key and key.startswith(GROUP) and len(self.screen_stack) == 1 else None

    DETAIL_TABS = ("stats", "logs", "env", "top", "config")

    def update_detail(self) -> None:
        """The detail pane follows the selection: the charts on each round, the other
        tabs loaded when the container or the tab changes (top every other round)."""
        r = self.rows.get(self.selected_id() or "")
        detail = self.query_one("#detail", ContentSwitcher)
        tabs = " ".join(f"[reverse] {t} [/]" if t == self.detail_tab else f" {t} " for t in self.DETAIL_TABS)
        title = f"{escape(r.name) if r else ''} ─ {tabs} ─ \\[ ] switch"
        project = None if r else self.selected_project()
        if project:  # what its row's keys do, where its container's tabs would be
            title = (f"{escape(project)} · compose ─ enter folds  s up  x stop  R restart  p pause  K kill  "
                     "d down  l logs  c config")  # (in 100 columns)
        if self._detail_title != title:  # (border_title gives back its markup rewritten: not comparable)
            self._detail_title = detail.border_title = title
        want = f"d-{self.detail_tab}"
        if detail.current != want:
            detail.current = want
        key = (r.id if r else None, self.detail_tab)
        fresh = key != self._detail_key
        self._detail_key = key
        if self.detail_tab == "stats":
            note = not_running(r) if r else ""
            slots = HISTORY
            for sel, (data, scale, title) in (("#cpu-chart", cpu_chart(r) if r else ([], None, "CPU %")),
                                              ("#mem-chart", mem_chart(r) if r else ([], None, "MEM"))):
                alert = "OOM" in title or "⚠" in title
                self.query_one(sel, Chart).show(data, scale, title, note, alert, slots=slots,
                                                window=slots * self.interval)
        elif r is None:
            return
        elif self.detail_tab == "logs" and fresh:
            self.query_one("#d-logs", LogView).reset()
            self.detail_logs(r.id, key)
        elif self.detail_tab == "top" and (fresh or self.rounds % 2 == 0):
            self.detail_top(r.id, key)
        elif self.detail_tab in ("env", "config") and fresh:
            self.detail_inspect(r.id, key)

    COMMANDS_HELP = ("images, volumes, networks, logs NAME, page NAME, exec NAME [CMD…], start/stop/restart/"
                     "pause/unpause/kill/rm NAME, filter TEXT, sort COLUMN, bulk, help, quit")

    VERB_ALIASES = {"img": "images", "image": "images", "vol": "volumes", "volume": "volumes", "net": "networks",
                    "network": "networks", "q": "quit", "remove": "rm", "log": "logs", "inspect": "page",
                    "ps": "containers", "co": "containers"}
    VERBS = {"images", "volumes", "networks", "containers", "logs", "page", "exec", "rm", "filter", "sort", "bulk",
             "help", "quit", "start", "stop", "kill", "pause", "unpause", "restart", *VERB_ALIASES}

    def check_command_line(self) -> bool:
        """(k9s's :) Not while an input has the keys: a colon typed there is a colon."""
        return not isinstance(self.focused, Input) and not isinstance(self.screen, ModalScreen)

    def action_command_line(self) -> None:
        """k9s's command mode: `:images`, `:logs web`, `:exec web sh`…, with the earlier
        commands under ↑ (this session's)."""
        from .views import AskScreen
        if not self.check_command_line():
            return

        def done(line) -> None:
            if line:
                if not self.command_history or self.command_history[-1] != line:
                    self.command_history.append(line)
                self.run_command_line(line)
        names = "".join(f", {c.name} [NAME]" for c in self.custom)
        self.push_screen(AskScreen(":", self.COMMANDS_HELP + names, history=self.command_history), done)

    def run_command_line(self, line: str) -> None:
        import shlex
        try:
            words = shlex.split(line.lstrip(":"))
        except ValueError as e:
            self.notify(f":{line}: {e}", severity="error")
            return
        if not words:
            return
        verb, args = words[0].lower(), words[1:]
        verb = self.VERB_ALIASES.get(verb, verb)

        def container() -> Optional[str]:
            if not args:
                self.notify(f":{verb} needs a container's name or id", severity="error")
                return None
            hit = [cid for cid, r in self.rows.items() if args[0] in (r.name, cid) or cid.startswith(args[0])]
            if len(hit) != 1:
                self.notify(f"no such container: {args[0]}" if not hit else f"{args[0]} names more than one container",
                            severity="error")
                return None
            return hit[0]
        if verb in ("images", "volumes", "networks"):
            self.action_view(verb)
        elif verb == "containers":
            while len(self.screen_stack) > 1:
                self.pop_screen()
        elif verb in ("logs", "page", "exec") or verb in self.ING or verb == "rm":
            cid = container()
            if cid is None:
                return
            if verb == "logs":
                self.push_screen(LogsScreen(self.engine, cid, self.rows[cid].name))
            elif verb == "page":
                self.open_page(cid)
            elif verb == "exec":
                self.exec_in(cid, args[1:] or ["sh"])
            else:
                self.act_on("remove" if verb == "rm" else verb, cid)
        elif verb == "filter":
            self.filter_text = " ".join(args)
            self._apply(list(self.rows.values()))
        elif verb == "sort" and args and args[0] in self.SORT_KEYS:
            self.sort_by, self.sort_reverse = args[0], args[0] in DESCENDING
            self._apply(list(self.rows.values()))
        elif verb == "bulk":
            self.action_bulk()
        elif verb == "help":
            self.action_help()
        elif verb == "quit":
            self.exit()
        elif self.custom_named(words) is not None:  # a custom command: on NAME, else on the selection
            i, rest = self.custom_named(words)
            project = self.custom[i].scope == "project"
            if rest and project:
                cid = GROUP + rest[0] if any(r.project == rest[0] for r in self.rows.values()) else None
                if cid is None:
                    self.notify(f"no such compose project: {rest[0]}", severity="error", markup=False)
            elif rest:
                args = rest
                cid = container()
            else:
                cid = self.custom_target(i)
                if cid is None:
                    self.notify(f":{self.custom[i].name} needs a {'project' if project else 'container'}'s name or "
                                "a selected one", severity="error", markup=False)
            if cid is not None:
                self.custom_command_on(i, cid)
        else:
            self.notify(f"unknown command :{line.lstrip(':')} (one of: {self.COMMANDS_HELP})", severity="error")

    def action_layout(self) -> None:
        """The detail pane under the list, or beside it (a wide terminal's way, lazydocker's)."""
        body = self.query_one("#body")
        body.set_class(not body.has_class("beside"), "beside")

    def action_bulk(self) -> None:
        from .views import BulkScreen

        def chosen(key) -> None:
            if key:
                self.bulk(key)
        self.push_screen(BulkScreen(), chosen)

    @work(thread=True, group="action")
    def bulk(self, key: str) -> None:
        from .views import run_bulk
        try:
            self.call_from_thread(self.notify, run_bulk(self.engine, key))
        except EngineError as e:
            self.call_from_thread(self.notify, short_ids(str(e)), severity="error")
        self.call_from_thread(self.sample)

    mouse_ours = True  # (App.mouse_captured is the widget holding the mouse)

    def action_mouse(self) -> None:
        """Mouse capture off (oxker's m): the terminal selects and copies text again; m turns it back on."""
        driver = self._driver
        if driver is None or not hasattr(driver, "_enable_mouse_support"):
            return
        self.mouse_ours = not self.mouse_ours
        if self.mouse_ours:
            driver._enable_mouse_support()
        else:
            driver._disable_mouse_support()
        self.notify("mouse: the dashboard's (m gives it to the terminal)" if self.mouse_ours
                    else "mouse: the terminal's, to select and copy (m takes it back)")

    def action_hide_stopped(self) -> None:
        self.hide_stopped = not self.hide_stopped
        self._apply(list(self.rows.values()))

    def action_detail_tab(self, step: int) -> None:
        i = self.DETAIL_TABS.index(self.detail_tab)
        self.detail_tab = self.DETAIL_TABS[(i + step) % len(self.DETAIL_TABS)]
        self.update_detail()

    @work(thread=True, exclusive=True, group="detail-logs")
    def detail_logs(self, cid: str, key: tuple) -> None:
        from .logview import follow_log
        view = self.query_one("#d-logs", LogView)
        try:
            follow_log(self, self.engine, cid, lambda: self._detail_key != key or not self.is_running,
                       view.append)
        except EngineError:
            pass  # removed meanwhile: the next round shows it

    @work(thread=True, exclusive=True, group="detail-top")
    def detail_top(self, cid: str, key: tuple) -> None:
        try:
            titles, rows = self.engine.top(cid)
        except EngineError:
            titles, rows = ["PID", "CMD"], []
        self.call_from_thread(self._show_top, key, titles, rows)

    def _show_top(self, key: tuple, titles: list, rows: list) -> None:
        if key != self._detail_key:
            return
        t = self.query_one("#d-top", DataTable)
        if [c.label.plain for c in t.ordered_columns] != titles:
            t.clear(columns=True)
            for title in titles:
                t.add_column(title, key=title)
        t.clear()
        for row in rows:
            t.add_row(*(row + [""] * (len(titles) - len(row)))[:len(titles)])

    @work(thread=True, exclusive=True, group="detail-inspect")
    def detail_inspect(self, cid: str, key: tuple) -> None:
        try:
            doc = self.engine.inspect(cid)
        except EngineError:
            return
        self.call_from_thread(self._show_inspect, key, doc)

    def _show_inspect(self, key: tuple, doc: dict) -> None:
        from .views import fill_tree
        if key != self._detail_key:
            return
        env = self.query_one("#d-env", DataTable)
        if not env.columns:
            env.add_column("NAME", key="name")
            env.add_column("VALUE", key="value")
        env.clear()
        for item in doc.get("Config", {}).get("Env") or []:
            name, _, value = item.partition("=")
            env.add_row(name, value)
        tree = self.query_one("#d-config", Tree)
        tree.clear()
        tree.root.set_label(doc.get("Name", "").lstrip("/"))
        fill_tree(tree.root, doc)
        tree.root.expand()

    @on(DataTable.RowHighlighted, "#containers")
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
        if isinstance(self.screen, HelpScreen):
            return
        self.push_screen(HelpScreen(help_rows(self.screen), NOTES if len(self.screen_stack) == 1 else []))

    def action_refresh(self) -> None:
        self.sample()

    DONE = {"start": "started", "stop": "stopped", "kill": "killed", "remove": "removed", "pause": "paused",
            "unpause": "unpaused", "restart": "restarted", "rename": "renamed"}

    @work(thread=True, group="action")
    def engine_call(self, verb: str, cid: str, arg: str = "") -> None:
        """VERB on container CID; what happened is said after it did (an error with a
        short id, as docker's CLI prints them)."""
        name = self.rows[cid].name if cid in self.rows else cid[:12]
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
            self.call_from_thread(self.notify, f"{self.DONE[verb]} {name}")
        except EngineError as e:
            self.call_from_thread(self.notify, short_ids(str(e)), severity="error")
        finally:
            self.call_from_thread(self._acted, cid)

    def _acted(self, cid: str) -> None:
        self.pending.pop(cid, None)
        self.sample()

    def targets(self) -> list[str]:
        """The container of the page on screen, else the marked ones, or the selected one."""
        page = self.page_cid()
        if page is not None:
            return [page] if page in self.rows else []
        if self.marked:
            return [cid for cid in self.marked if cid in self.rows]
        cid = self.selected_id()
        return [cid] if cid else []

    ING = {"start": "starting", "stop": "stopping", "kill": "killing", "remove": "removing", "pause": "pausing",
           "unpause": "unpausing", "restart": "restarting"}

    def act_on(self, verb: str, cid: str, ing: str = "") -> None:
        self.pending[cid] = f"{ing or self.ING[verb]}…"
        self.engine_call(verb, cid)

    def page_cid(self) -> Optional[str]:
        from .page import ContainerScreen
        return self.screen.cid if isinstance(self.screen, ContainerScreen) else None

    def _each(self, verb: str, ing: str) -> None:
        """VERB on each target; its row says "stopping…" while it happens."""
        ids = self.targets()
        if ids:
            for cid in ids:
                self.act_on(verb, cid, ing)
            self.marked.clear()
            if len(self.screen_stack) == 1:
                self._apply(list(self.rows.values()))

    def action_mark(self) -> None:
        cid = self.selected_id()
        if cid:
            self.marked ^= {cid}
            self._apply(list(self.rows.values()))
            self.action_cursor_down()

    def action_start(self) -> None:
        if not self.on_project("up", "starting"):
            self._each("start", "starting")

    def action_stop(self) -> None:
        if not self.on_project("stop", "stopping"):
            self._each("stop", "stopping")

    def action_kill(self) -> None:
        if not self.on_project("kill", "killing"):
            self._each("kill", "killing")

    def action_pause(self) -> None:
        name = self.selected_project()
        if name:  # compose pause, or unpause where nothing of it runs but something is paused
            states = {r.state for r in self.rows.values() if r.project == name}
            if "paused" in states and "running" not in states:
                self.run_project(name, "unpause", "unpausing")
            else:
                self.run_project(name, "pause", "pausing")
            return
        ids = self.targets()
        if ids:
            paused = all(self.rows[c].state == "paused" for c in ids)
            self._each("unpause" if paused else "pause", "unpausing" if paused else "pausing")

    def action_restart(self) -> None:
        if not self.on_project("restart", "restarting"):
            self._each("restart", "restarting")

    # ------------------------------------------------------------ compose projects
    def on_project(self, verb: str, ing: str) -> bool:
        """VERB on the project whose row is selected (False: the cursor is on a container)."""
        name = self.selected_project()
        if name is None:
            return False
        self.run_project(name, verb, ing)
        return True

    def run_project(self, name: str, verb: str, ing: str) -> None:
        self.pending[GROUP + name] = f"{ing}…"
        self.project_call(name, verb)
        self._apply(list(self.rows.values()))

    def project_down(self, name: str) -> None:
        """compose down of project NAME, once confirmed."""
        from .views import ConfirmScreen

        def down(ok: bool = True) -> None:
            if ok:
                self.run_project(name, "down", "removing")
        self.push_screen(ConfirmScreen(f"compose down {name}: stop and remove its containers and networks?"), down)

    @work(thread=True, group="project")
    def project_call(self, name: str, verb: str) -> None:
        """compose VERB of project NAME, as the command line does it (dunnage.compose,
        imported now: its YAML stays out of the dashboard's start-up)."""
        try:
            from . import compose_actions
            compose_actions.run(self.engine, name, verb)
            self.call_from_thread(self.notify, f"compose {verb} {name}: done")
        except Exception as e:  # noqa: BLE001 - a bad compose file or an engine error, told in one line
            self.call_from_thread(self.notify, f"compose {verb} {name}: {short_ids(str(e))}", severity="error")
        finally:
            self.call_from_thread(self._acted, GROUP + name)

    @work(thread=True, group="project")
    def project_text(self, name: str, what: str) -> None:
        """Project NAME's logs (every service's, interleaved, each line after its container's
        name) or its resolved model, in a screen of their own."""
        try:
            from . import compose_actions
            if what == "logs":
                lines = compose_actions.logs(self.engine, name)
                width = max((len(n) for n, _, _ in lines), default=0)
                colours = {}
                text = Text()
                for n, stream, line in lines:
                    colour = colours.setdefault(n, PREFIX_COLOURS[len(colours) % len(PREFIX_COLOURS)])
                    text.append(f"{n.ljust(width)}  | ", style=colour)
                    text.append(line + "\n", style=STATUS_STYLE["exited"] if stream == "stderr" else "")
                title = f"logs · project {name}"
            else:
                text = Text(compose_actions.model(self.engine, name))
                title = f"compose config · project {name}"
        except Exception as e:  # noqa: BLE001 - told in one line
            self.call_from_thread(self.notify, f"{name}: {short_ids(str(e))}", severity="error")
            return
        self.call_from_thread(self.push_screen, TextScreen(title, text))

    def action_project_model(self) -> None:
        name = self.selected_project()
        if name:
            self.project_text(name, "model")
        else:
            self.action_custom_menu()

    # ------------------------------------------------------------ custom commands (the settings file's)
    def _add_custom(self, commands: list) -> None:
        """The settings file's commands, each under its key where it has one; a key the
        dashboard already uses, or a name that is one of :'s own, is said in one line and
        that command left out."""
        from . import config
        # the list's own keys too: it has the focus, and would take them first
        keyed = {b.key: f"the list's {b.action.replace('_', ' ')}"
                 for bs in BindingsMap(LiveTable.BINDINGS).key_to_bindings.values() for b in bs}
        keyed |= {b.key: f"{b.description or b.action}'s" for bs in self._bindings.key_to_bindings.values() for b in bs}
        extra = []
        for c in commands:
            keys = [k.strip() for k in c.key.split(",") if k.strip()]
            clash = next((k for k in keys if k in keyed), None)
            what = f"{config.config_path()}: [[commands]] {c.name!r}"
            if clash:
                self.problems.append(f"{what}: key {clash!r} is {keyed[clash]} already "
                                     "(another key, or move that one in [keys])")
                continue
            if c.name.split()[0].lower() in self.VERBS:
                self.problems.append(f"{what}: :{c.name.split()[0]} is the dashboard's own (another name)")
                continue
            i = len(self.custom)
            self.custom.append(c)
            for k in keys:
                keyed[k] = f"{c.name}'s"
                extra.append(Binding(k, f"custom_command({i})", c.name, id=f"custom_{i}"))
        if extra:
            self._bindings = BindingsMap([b for bs in self._bindings.key_to_bindings.values() for b in bs] + extra)

    def custom_named(self, words: list[str]) -> Optional[tuple[int, list[str]]]:
        """(index, the words after) of the custom command the first of WORDS name."""
        for n in range(len(words), 0, -1):
            said = " ".join(words[:n]).lower()
            for i, c in enumerate(self.custom):
                if c.name.lower() == said:
                    return i, words[n:]
        return None

    def action_custom_menu(self) -> None:
        from . import config
        from .views import CommandsScreen
        if not self.custom:
            self.notify(f"no custom commands: [[commands]] in {config.config_path()} adds them", severity="warning",
                        markup=False)
            return
        targets = {i: self.custom_target(i) for i in range(len(self.custom))}
        targets = {i: t for i, t in targets.items() if t is not None}
        cid = self.page_cid() or self.selected_id()
        if not targets or cid is None:
            self.notify("select a container first", severity="warning")
            return
        keys = {}
        for bs in self._bindings.key_to_bindings.values():
            for b in bs:
                if b.action.startswith("custom_command("):
                    keys.setdefault(b.action, self.get_key_display(b))
        order = list(targets)
        entries = [(keys.get(f"custom_command({i})", ""), self.custom[i].name,
                    ("its project: " if self.custom[i].scope == "project" else "")
                    + (self.custom[i].description or self.custom[i].command)) for i in order]

        def chosen(n) -> None:
            if n is not None:
                self.custom_command_on(order[n], targets[order[n]])
        self.push_screen(CommandsScreen(self.rows[cid].name, entries), chosen)

    def custom_target(self, i: int) -> Optional[str]:
        """What custom command I runs on now: the container of the page or under the cursor;
        a project's command, the project of the row under the cursor (or of that container)."""
        cid = self.page_cid() or self.selected_id()
        if self.custom[i].scope == "project":
            name = self.selected_project() or (self.rows[cid].project if cid in self.rows else "")
            return GROUP + name if name else None
        return cid if cid in self.rows else None

    def action_custom_command(self, i: int) -> None:
        target = self.custom_target(i)
        if target is None:
            what = "compose project" if self.custom[i].scope == "project" else "container"
            self.notify(f"{self.custom[i].name}: select a {what} first", severity="warning", markup=False)
            return
        self.custom_command_on(i, target)

    def custom_command_on(self, i: int, target: str) -> None:
        """Custom command I on TARGET (a container's id, a project's row's key): its template
        filled in, asked first where it says so, then run in this terminal (attach) or in the
        background, its output shown."""
        from .gotemplate import TemplateError
        from .views import ConfirmScreen
        c = self.custom[i]
        try:
            line, label, env, cwd = self.render_command(c.command, target)
        except (TemplateError, EngineError) as e:
            self.notify(f"{c.name}: {short_ids(str(e))}", severity="error", markup=False)
            return
        if c.confirm:
            self.push_screen(ConfirmScreen(Text(f"{c.name} on {label}: {line}?")),
                             lambda ok: self.run_custom(c.name, label, line, c.attach, env, cwd) if ok else None)
        else:
            self.run_custom(c.name, label, line, c.attach, env, cwd)

    def render_command(self, template: str, target: str) -> tuple[str, str, dict, Optional[str]]:
        """(the command line, what it runs on, its environment's additions, its directory)."""
        import os
        from dunnage.core.system import ps_command
        from . import config
        from .gotemplate import parse
        if target.startswith(GROUP):  # a project: as compose finds it, from its containers' labels
            name = target[len(GROUP):]
            cs = [c for c in self.engine.containers(all_=True)
                  if (c.config["Config"].get("Labels") or {}).get(PROJECT_LABEL) == name]
            labels = (cs[0].config["Config"].get("Labels") or {}) if cs else {}
            workdir = labels.get(PROJECT_LABEL + ".working_dir", "")
            files = [f for f in labels.get(PROJECT_LABEL + ".config_files", "").split(",") if f]
            data = config.project_data(name, workdir, files, sorted(c.name for c in cs), self.dunnage_command())
            env = {"COMPOSE_PROJECT_NAME": name, **({"COMPOSE_FILE": os.pathsep.join(files)} if files else {})}
            return (parse(template).execute(data), f"project {name}", env,
                    workdir if workdir and os.path.isdir(workdir) else None)
        rec = self.engine.container(target)
        cfg = rec.config
        data = config.template_data({
            "ID": rec.id, "Name": rec.name, "Image": cfg["ImageName"], "ImageID": cfg.get("Image", ""),
            "Command": ps_command(cfg["Argv"]), "Created": cfg.get("Created", ""), "State": rec.status,
            "Status": status_text(rec), "Labels": cfg["Config"].get("Labels") or {}}, self.dunnage_command())
        return parse(template).execute(data), rec.name, {}, None

    def dunnage_command(self) -> str:
        """The command line against this store, as a shell word list (a template's .Dunnage)."""
        import shlex
        return shlex.join([dunnage_executable(), "--root", str(self.engine.store.root)])

    def run_custom(self, title: str, target: str, line: str, attach: bool, extra: dict | None = None,
                   cwd: Optional[str] = None) -> None:
        import os
        import subprocess
        env = {**os.environ, "DUNNAGE_ROOT": str(self.engine.store.root),
               "PATH": os.path.dirname(dunnage_executable()) + os.pathsep + os.environ.get("PATH", ""), **(extra or {})}
        if attach:
            with self.suspend():
                code = subprocess.call(["sh", "-c", line], env=env, cwd=cwd)
            if code not in (0, 130):
                self.notify(f"{title} exited with {code}", severity="warning", markup=False)
            self.sample()
            return
        self.push_screen(OutputScreen(f"{title} · {target}", ["sh", "-c", line], env, cwd), lambda _=None: self.sample())

    def action_page(self) -> None:
        name = self.selected_project()
        if name:  # a project's row folds its containers away, or shows them again
            self.collapsed ^= {name}
            self._apply(list(self.rows.values()))
            return
        cid = self.selected_id()
        if cid:
            self.open_page(cid)

    def open_page(self, cid: str) -> None:
        from .page import ContainerScreen
        self.push_screen(ContainerScreen(self.engine, cid))

    def action_view(self, kind: str) -> None:
        """Images, volumes or networks, from any screen: one of these views replaces
        another rather than piling up on it."""
        from .views import ImagesScreen, NetworksScreen, ResourceScreen, VolumesScreen
        cls = {"images": ImagesScreen, "volumes": VolumesScreen, "networks": NetworksScreen}[kind]
        if isinstance(self.screen, cls):
            return
        if isinstance(self.screen, ResourceScreen):
            self.switch_screen(cls(self.engine))
        else:
            self.push_screen(cls(self.engine))

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
        cid = self.selected_id()
        if not cid or self.rows[cid].state != "running":
            self.notify("select a running container first", severity="warning")
            return
        self.exec_in(cid, ["sh"])

    def action_browse(self) -> None:
        """The selected container's first published TCP port in the web browser
        (Python's webbrowser: $BROWSER, else what the desktop has)."""
        import webbrowser
        cid = self.page_cid() or self.selected_id()
        r = self.rows.get(cid or "")
        url = published_url(r.ports) if r and r.state == "running" else None
        if url is None:
            self.notify("no published TCP port to open", severity="warning")
            return
        if webbrowser.open(url):
            self.notify(f"opened {url}")
        else:
            self.notify(f"no browser to open {url} with", severity="warning")

    def action_attach(self) -> None:
        """docker attach to the selected container, in this terminal (ctrl-p ctrl-q
        detaches and the dashboard comes back)."""
        cid = self.page_cid() or self.selected_id()
        if not cid or self.rows[cid].state != "running":
            self.notify("select a running container first", severity="warning")
            return
        self.run_cli(["attach", cid])

    def exec_in(self, cid: str, command: list[str]) -> None:
        """COMMAND inside container CID, in this terminal; the dashboard steps aside and
        comes back when it exits."""
        self.run_cli(["exec", "-it", cid, *command])

    def run_cli(self, args: list[str]) -> None:
        """The command line's ARGS in this terminal; the dashboard steps aside meanwhile."""
        import subprocess
        import sys
        cmd = [sys.executable, "-m", "dunnage.tui.cli", "--root", str(self.engine.store.root), *args]
        with self.suspend():
            code = subprocess.call(cmd)
        if code not in (0, 130):
            self.notify(f"{' '.join(args[:1] + args[2:])} exited with {code}", severity="warning")
        self.sample()

    def action_remove(self) -> None:
        from .views import ConfirmScreen
        name = self.selected_project()
        if name:
            self.project_down(name)
            return
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


def published_url(ports: str) -> Optional[str]:
    """http://HOST:PORT of the first published TCP port in ps's PORTS text; 0.0.0.0 and ::
    are this host, 127.0.0.1 for the browser."""
    import re
    m = re.search(r"(\S+?):(\d+)->\d+/tcp", ports)
    if not m:
        return None
    host = m.group(1).strip("[]")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    return f"http://{host}:{m.group(2)}/"


def remapped(bindings: BindingsMap, keymap: dict[str, str]) -> BindingsMap:
    """BINDINGS with the settings file's keys, each action in its place (Textual's keymap
    moves a remapped action to the end of the footer, where 100 columns cut it off);
    a key a remap takes is no longer the old action's."""
    taken = {k for keys in keymap.values() for k in keys.split(",")}
    out, done = [], set()
    for bs in bindings.key_to_bindings.values():
        for b in bs:
            if b.id in keymap:
                if b.id not in done:
                    done.add(b.id)
                    out += [b.with_key(k, key_display=None) for k in keymap[b.id].split(",")]
            elif b.key not in taken:
                out.append(b)
    return BindingsMap(out)


def dunnage_executable() -> str:
    """The `dunnage` beside this Python (the venv's), else the one on PATH."""
    import os
    import shutil
    import sys
    here = os.path.join(os.path.dirname(sys.executable), "dunnage")
    return here if os.access(here, os.X_OK) else shutil.which("dunnage") or "dunnage"


def binding_ids() -> set[str]:
    return {b.id for b in DunnageApp.BINDINGS if b.id}


def run_app(engine: Engine) -> int:
    from . import config
    try:
        s = config.load(actions=binding_ids(), themes=set(App().available_themes))
    except config.ConfigError as e:
        raise EngineError(f"config {e}") from None
    DunnageApp(engine, s.interval, s.theme, s.keys, s.commands, s.problems).run()
    return 0
