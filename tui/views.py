"""The dashboard's other views: images, volumes and networks (inspect, remove,
prune), inspect as a navigable tree, pulling with progress, and the form that
runs a new container.  Every engine call runs in a worker thread."""
from __future__ import annotations

import json
from typing import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.markup import escape
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Header, Input, Label, RichLog, Static, Tree

from dunnage.core import ContainerSpec, Engine, EngineError

from .footer import Footer
from .rows import short_ids


def cursor_key(t: DataTable):
    """The key of the row under a table's cursor, or None."""
    if not t.row_count:
        return None
    try:
        return t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value
    except Exception:  # noqa: BLE001 - the table changed under the cursor
        return None


def fill_tree(node, value, path: tuple = ()) -> None:
    """Lay a JSON value out under NODE: objects and lists expand, scalars are leaves;
    each node's data is its path of keys (a refreshed tree finds its place again)."""
    from rich.text import Text
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                fill_tree(node.add(Text(str(k), style="bold"), data=path + (k,), expand=False), v, path + (k,))
            else:
                node.add_leaf(Text.assemble((str(k), "bold"), f": {json.dumps(v)}"), data=path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list)) and v:
                fill_tree(node.add(Text(f"[{i}]"), data=path + (i,), expand=False), v, path + (i,))
            else:
                node.add_leaf(Text(f"[{i}] {json.dumps(v)}"), data=path + (i,))


class InspectScreen(Screen):
    """Any inspect document as a tree: enter or space opens and closes a branch."""
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")]

    def __init__(self, title: str, doc: dict):
        super().__init__()
        self.doc_title, self.doc = title, doc

    def compose(self) -> ComposeResult:
        yield Header()
        tree: Tree = Tree(self.doc_title, id="inspect-tree")
        tree.root.expand()
        fill_tree(tree.root, self.doc)
        yield tree
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"inspect · {self.doc_title}"
        self.query_one(Tree).focus()


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


class ResourceScreen(Screen):
    """A table of images, volumes or networks: enter inspects, d removes, P prunes."""
    KIND = ""
    COLUMNS: list[tuple[str, str]] = []
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("enter", "inspect", "inspect"),
                Binding("d", "remove", "remove"), Binding("P", "prune", "prune"),
                Binding("r", "refresh", "refresh"), Binding("j", "down", show=False),
                Binding("k", "up", show=False)]

    def __init__(self, engine: Engine):
        super().__init__()
        self.engine = engine
        self.items: dict[str, dict] = {}
        self.loaded = 0  # rounds of loading done (tests wait on it)

    def compose(self) -> ComposeResult:
        yield Header()
        yield DataTable(id="resources", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.KIND
        t = self.query_one(DataTable)
        for key, title in self.COLUMNS:
            t.add_column(title, key=key)
        t.focus()
        self.refresh_items()

    # subclasses: load_rows() -> [(key, {column: text}, item)], inspect_item(key), remove_item(key),
    # prune_items() -> [names]  (not remove/inspect: Textual's widgets have those)
    def load_rows(self) -> list:
        raise NotImplementedError

    @work(thread=True, exclusive=True, group="load")
    def refresh_items(self) -> None:
        try:
            rows = self.load_rows()
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self._show, rows)

    def _show(self, rows: list) -> None:
        t = self.query_one(DataTable)
        selected = self.selected()
        t.clear()
        self.items = {}
        for key, cells, item in rows:
            self.items[key] = item
            t.add_row(*[cells[k] for k, _ in self.COLUMNS], key=key)
        if selected in self.items:
            t.move_cursor(row=t.get_row_index(selected))
        self.loaded += 1

    def selected(self):
        return cursor_key(self.query_one(DataTable))

    def action_down(self) -> None:
        self.query_one(DataTable).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(DataTable).action_cursor_up()

    def action_refresh(self) -> None:
        self.refresh_items()

    @on(DataTable.RowSelected)
    def row_selected(self, _event) -> None:  # enter on the table
        self.action_inspect()

    def action_inspect(self) -> None:
        key = self.selected()
        if key is not None:
            self._inspect(key)

    @work(thread=True, group="action")
    def _inspect(self, key: str) -> None:
        try:
            doc = self.inspect_item(key)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self.app.push_screen, InspectScreen(key, doc))

    @work(thread=True, group="action")
    def _call(self, what: str, fn: Callable) -> None:
        try:
            out = fn()
            self.app.call_from_thread(self.notify, what + (f": {', '.join(out)}" if out else ""))
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
        self.app.call_from_thread(self.refresh_items)

    def action_remove(self) -> None:
        key = self.selected()
        if key is None:
            return

        def done(ok: bool) -> None:
            if ok:
                self._call(f"removed {key}", lambda: self.remove_item(key))
        self.app.push_screen(ConfirmScreen(f"Remove {self.KIND[:-1]} {key}?"), done)

    def action_prune(self) -> None:
        def done(ok: bool) -> None:
            if ok:
                self._call("pruned", self.prune_items)
        self.app.push_screen(ConfirmScreen(f"Remove every unused {self.KIND[:-1]}?"), done)


class ImagesScreen(ResourceScreen):
    KIND = "images"
    COLUMNS = [("repo", "REPOSITORY"), ("tag", "TAG"), ("id", "IMAGE ID"), ("created", "CREATED"),
               ("size", "SIZE")]
    BINDINGS = ResourceScreen.BINDINGS + [Binding("u", "pull", "pull"), Binding("c", "run", "run…"),
                                          Binding("h", "history", "layers & users")]

    def action_history(self) -> None:
        key = self.selected()
        if key is not None:
            self.app.push_screen(ImageScreen(self.engine, key))

    def load_rows(self) -> list:
        from .rows import image_rows
        out = []
        for r in image_rows(self.engine.list_images()):
            ref = f"{r['Repository']}:{r['Tag']}" if r["Repository"] != "<none>" else r["ID"]
            out.append((ref, {"repo": r["Repository"], "tag": r["Tag"], "id": r["ID"],
                              "created": r["CreatedSince"], "size": r["Size"]}, r))
        return out

    def inspect_item(self, key: str) -> dict:
        return self.engine.inspect_image(key)

    def remove_item(self, key: str) -> list:
        self.engine.remove_image(key)
        return []

    def prune_items(self) -> list:
        return self.engine.prune_images(False)

    def action_pull(self) -> None:
        def done(ref) -> None:
            if ref:
                self.app.push_screen(PullScreen(self.engine, ref), lambda _: self.refresh_items())
        self.app.push_screen(AskScreen("pull which image?", "e.g. 127.0.0.1:5000/busybox:latest"), done)

    def action_run(self) -> None:
        key = self.selected()
        if key is not None:
            self.app.push_screen(RunForm(self.engine, key), lambda _: self.refresh_items())


def image_layers(engine: Engine, ref: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """docker history's rows of image REF, newest first: (created, the command that made
    the layer, its size: its directory's, as du counts it, "0B" for a step without a
    layer); and the containers made from it: (name, state)."""
    from dunnage.core.system import du
    from dunnage.core.units import human_duration, since
    from .rows import human_size
    img = engine.image(ref)
    paths = list(reversed(engine.images.layer_paths(img)))  # the bottom layer first, as the history
    rows, n = [], 0
    for h in (img.config or {}).get("history") or []:
        size = 0
        if not h.get("empty_layer"):
            size = du(paths[n]) if n < len(paths) else 0
            n += 1
        created = h.get("created", "")
        rows.append((human_duration(since(created)) + " ago" if created else "", h.get("created_by", ""),
                     human_size(size)))
    users = [(c.name, c.status) for c in engine.containers(all_=True) if c.config.get("Image") == img.id]
    return rows[::-1], users


class ImageScreen(Screen):
    """An image's layers, each with its size and the command that made it (docker
    history), and the containers that use it."""
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back")]

    def __init__(self, engine: Engine, ref: str):
        super().__init__()
        self.engine, self.ref = engine, ref
        self.loaded = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Label("[b]layers[/b], newest first", classes="section")
        yield DataTable(id="layers", cursor_type="row", zebra_stripes=True)
        yield Label("[b]containers[/b] made from it", classes="section")
        yield DataTable(id="users", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"image · {self.ref}"
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        try:
            rows, users = image_layers(self.engine, self.ref)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self._show, rows, users)

    def _show(self, rows: list, users: list) -> None:
        layers = self.query_one("#layers", DataTable)
        layers.add_columns("CREATED", "CREATED BY", "SIZE")
        layers.add_rows(rows)
        u = self.query_one("#users", DataTable)
        u.add_columns("NAME", "STATE")
        u.add_rows(users or [("(none)", "")])
        layers.focus()
        self.loaded += 1


class VolumesScreen(ResourceScreen):
    KIND = "volumes"
    COLUMNS = [("name", "VOLUME NAME"), ("driver", "DRIVER"), ("created", "CREATED")]

    def load_rows(self) -> list:
        return [(v["Name"], {"name": v["Name"], "driver": v["Driver"], "created": v["CreatedAt"][:19]}, v)
                for v in self.engine.volumes()]

    def inspect_item(self, key: str) -> dict:
        return self.engine.volume_inspect(key)

    def remove_item(self, key: str) -> list:
        self.engine.volume_remove(key)
        return []

    def prune_items(self) -> list:
        return self.engine.volume_prune(True)


class NetworksScreen(ResourceScreen):
    KIND = "networks"
    COLUMNS = [("name", "NAME"), ("id", "NETWORK ID"), ("subnet", "SUBNET"), ("containers", "CONTAINERS"),
               ("flags", "")]

    def load_rows(self) -> list:
        return [(r["Name"], {"name": r["Name"], "id": r["Id"][:12], "subnet": r["Subnet"],
                             "containers": str(len(r["Endpoints"])),
                             "flags": ("internal " if r["Internal"] else "") + ("default" if r.get("Default") else "")},
                 r) for r in self.engine.networks()]

    def inspect_item(self, key: str) -> dict:
        return self.engine.network_inspect(key)

    def remove_item(self, key: str) -> list:
        self.engine.network_remove(key)
        return []

    def prune_items(self) -> list:
        return self.engine.network_prune()


class PromptInput(Input):
    """An Input whose own keys (ctrl+u, backspace, enter…) act the moment they arrive.
    Textual runs a binding only when its key has bubbled back up to the app, after
    the characters typed behind it were put in: ctrl+u and a path typed fast left an
    empty field, enter and a name typed fast saved the name without its end."""

    async def _on_key(self, event) -> None:
        if not event.is_printable:
            for b in self._bindings.key_to_bindings.get(event.key, []):
                event.stop()
                event.prevent_default()
                await self.run_action(b.action)
                return
        await super()._on_key(event)


class BulkScreen(ModalScreen):
    """lazydocker's bulk menu (b): one action over many things, asked for again before it runs."""
    BINDINGS = [Binding("escape,q", "cancel", "cancel")]
    CHOICES = [("stop", "stop every running container"), ("remove-exited", "remove every stopped container"),
               ("prune-images", "remove unused images (prune)"), ("prune-volumes", "remove unused volumes (prune)"),
               ("prune-networks", "remove unused networks (prune)")]

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option
        with Vertical(id="bulk"):
            yield Label("[b]bulk[/b]: enter chooses, escape closes")
            yield OptionList(*[Option(text, id=key) for key, text in self.CHOICES], id="bulk-list")

    def on_mount(self) -> None:
        self.query_one("#bulk-list").focus()

    def on_option_list_option_selected(self, event) -> None:
        key = event.option.id
        text = dict(self.CHOICES)[key]

        def done(ok: bool) -> None:
            if ok:
                self.dismiss(key)
        self.app.push_screen(ConfirmScreen(f"{text[0].upper()}{text[1:]}?"), done)

    def action_cancel(self) -> None:
        self.dismiss(None)


def run_bulk(engine: Engine, key: str) -> str:
    """A bulk menu's action; what it did, in a few words."""
    if key == "stop":
        running = [c for c in engine.containers(all_=False)]
        for c in running:
            engine.stop(c.id, 10)
        return f"stopped {len(running)} container{'s' * (len(running) != 1)}"
    if key == "remove-exited":
        gone = [c for c in engine.containers(all_=True) if c.status in ("exited", "created", "dead")]
        for c in gone:
            engine.remove(c.id)
        return f"removed {len(gone)} container{'s' * (len(gone) != 1)}"
    what = key.split("-")[1]
    out = {"images": lambda: engine.prune_images(False), "volumes": lambda: engine.volume_prune(True),
           "networks": engine.network_prune}[what]()
    return f"removed {len(out)} unused {what if len(out) != 1 else what[:-1]}"


class CommandsScreen(ModalScreen):
    """lazydocker's c: the settings file's custom commands, to run one on the container
    named in the title; enter runs, escape closes.  Gives the chosen one's index."""
    BINDINGS = [Binding("escape,q", "cancel", "cancel")]

    def __init__(self, target: str, entries: list[tuple[str, str, str]]):
        super().__init__()
        self.target, self.entries = target, entries  # (key, name, what it runs)

    def compose(self) -> ComposeResult:
        from rich.text import Text
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option
        from .rows import ellipsis
        width = max(len(name) for _, name, _ in self.entries)
        room = max(12, 60 - width)  # one line each in the menu's 80 columns
        with Vertical(id="commands-menu"):
            yield Label(f"[b]commands[/b] on {escape(self.target)}: enter runs, escape closes")
            yield OptionList(*[Option(Text.assemble((f"{key or '-':>6}  ", "bold"), name.ljust(width),
                                                    ("  " + ellipsis(what, room), "dim")),
                                      id=str(i)) for i, (key, name, what) in enumerate(self.entries)],
                             id="bulk-list")

    def on_mount(self) -> None:
        self.query_one("#bulk-list").focus()

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskScreen(ModalScreen):
    """One line of input; enter gives it, escape gives None."""
    # (priority: the input's own up and down scroll a one-line box)
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("up", "recall(1)", show=False, priority=True),
                Binding("down", "recall(-1)", show=False, priority=True)]
    AUTO_FOCUS = "#answer"

    def __init__(self, question: str, placeholder: str = "", value: str = "", history: list[str] | None = None):
        super().__init__()
        self.question, self.placeholder, self.value = question, placeholder, value
        self.history = history or []  # earlier answers, oldest first: up and down recall them
        self.back = 0

    def action_recall(self, step: int) -> None:
        if not self.history:
            return
        self.back = max(0, min(len(self.history), self.back + step))
        box = self.query_one("#answer", Input)
        box.value = self.history[-self.back] if self.back else ""
        box.cursor_position = len(box.value)

    def compose(self) -> ComposeResult:
        with Vertical(id="ask"):
            yield Label(self.question)
            # the text given is selected here, not on focus: a focus that lands after the first
            # keys typed would select them too, and the next key would replace them
            yield PromptInput(value=self.value, placeholder=self.placeholder, id="answer", select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one("#answer", Input).action_select_all()

    async def on_key(self, event) -> None:
        """Keys typed right after the one that opened this (a fast typist, a paste through
        tmux) can reach the screen before the input has the focus: they go to the input,
        in order, rather than being lost."""
        box = self.query_one("#answer", Input)
        if event.is_printable or box._bindings.key_to_bindings.get(event.key):
            await box._on_key(event)
            if not box.has_focus:
                box.focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PullScreen(Screen):
    """`pull` with its progress: what the registry client reports, line by line."""
    BINDINGS = [Binding("escape,q", "close", "back")]

    def __init__(self, engine: Engine, ref: str):
        super().__init__()
        self.engine, self.ref = engine, ref
        self.done = False
        self.ok = False
        self.progress_rows: dict[str, tuple[int, int, float]] = {}  # layer -> (bytes, size, bytes per second)

    def on_mount(self) -> None:
        self.sub_title = f"pull · {self.ref}"
        self.pull()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="pull-bars")
        yield RichLog(id="pull-log", markup=False, wrap=True)
        yield Footer()

    def show_bars(self) -> None:
        from rich.table import Table
        from rich.progress_bar import ProgressBar
        t = Table.grid(padding=(0, 1))
        for layer, (done, total, rate) in self.progress_rows.items():
            t.add_row(layer, ProgressBar(total=total or None, completed=done, width=30),
                      f"{done / 1e6:.1f}/{total / 1e6:.1f} MB", f"{rate / 1e6:.1f} MB/s")
        self.query_one("#pull-bars", Static).update(t)

    @work(thread=True, exclusive=True)
    def pull(self) -> None:
        import time
        log = self.query_one(RichLog)
        say = lambda s: self.app.call_from_thread(log.write, s)  # noqa: E731
        started: dict = {}

        def progress(layer: str, done: int, total: int) -> None:
            t0 = started.setdefault(layer, time.monotonic())
            rate = done / max(time.monotonic() - t0, 1e-3)
            self.progress_rows[layer] = (done, total, rate)
            self.app.call_from_thread(self.show_bars)
        try:
            img = self.engine.pull(self.ref, None, say, progress)
            self.ok = True
            self.app.call_from_thread(log.write, f"pulled {self.ref} ({img.short_id})")
        except EngineError as e:
            self.app.call_from_thread(log.write, f"error: {e}")
        self.done = True

    def action_close(self) -> None:
        self.dismiss(self.ok)


class RunForm(ModalScreen):
    """Run a new container from an image: name, ports, env, volumes, limits, command."""
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("ctrl+r", "submit", "run")]
    AUTO_FOCUS = "#f-name"

    def action_submit(self) -> None:
        self.submit()
    FIELDS = [("name", "name", ""), ("command", "command", "default: the image's"),
              ("ports", "ports", "8080:80, 53:53/udp"), ("env", "environment", "K=V, K2=V2"),
              ("volumes", "volumes", "data:/data, /host:/ctr:ro"), ("memory", "memory limit", "64m"),
              ("cpus", "CPUs", "0.5"), ("network", "network", "bridge")]

    def __init__(self, engine: Engine, image: str):
        super().__init__()
        self.engine, self.image = engine, image

    def compose(self) -> ComposeResult:
        with Vertical(id="run-form"):
            yield Label(f"[b]run {self.image}[/b]  (enter in the last field, or ctrl+r, runs it)")
            for key, label, hint in self.FIELDS:
                yield Label(label)
                yield Input(placeholder=hint, id=f"f-{key}")
            yield Button("Run", variant="success", id="run")

    def values(self) -> dict:
        return {k: self.query_one(f"#f-{k}", Input).value.strip() for k, _, _ in self.FIELDS}

    @on(Input.Submitted)
    def next_or_run(self, event: Input.Submitted) -> None:
        if event.input.id == f"f-{self.FIELDS[-1][0]}":
            self.submit()
        else:
            self.focus_next()

    @on(Button.Pressed, "#run")
    def pressed(self) -> None:
        self.submit()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def submit(self) -> None:
        import shlex
        v = self.values()
        split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
        try:
            command = shlex.split(v["command"]) if v["command"] else None
        except ValueError as e:
            self.notify(f"command: {e}", severity="error")
            return
        try:  # the flags' grammars answer at once; the rest when it runs
            spec = ContainerSpec.from_flags(
                self.image, command, name=v["name"] or None, publish=split(v["ports"]), env=split(v["env"]),
                volumes=split(v["volumes"]), memory=v["memory"] or None, cpus=v["cpus"] or None,
                network=v["network"] or None, detach=True)
        except EngineError as e:
            self.notify(short_ids(str(e)), severity="error")
            return
        self.run_it(spec)

    @work(thread=True, exclusive=True)
    def run_it(self, spec: ContainerSpec) -> None:
        try:
            c = self.engine.run_from(spec)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")
            return
        self.app.call_from_thread(self.notify, f"started {c.name}")
        self.app.call_from_thread(self.dismiss, c.id)
