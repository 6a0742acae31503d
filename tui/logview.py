"""A log viewer that stays smooth on a million lines (Textual's Line API).

Lines are kept compactly (the text, a time array, a stream bytearray) and only
the rows on screen are rendered, through a small cache; appending is a list
extend, so following a busy log costs the lines that arrive, not the lines
already there. stderr is red, a search pattern is highlighted, the current
match is marked, timestamps can be shown.  LogsScreen is the dashboard's screen of
a container's log, followed live in one.
"""
from __future__ import annotations

import datetime as dt
import re
import time
from array import array
from typing import Iterable, Optional

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.screen import Screen
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Footer, Header

from dunnage.core import Engine, EngineError
from dunnage.core.logs import PROMPT_NS, LineJoiner

from .rows import short_ids

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_BUT_ESC = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
# escape sequences: CSI (colours are CSI ... m), OSC (a title, a link), and the two-character ones
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
STDERR = 1
_RED = Style(color="red")


def _clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", text.expandtabs()) if not text.isprintable() else text


def split_ansi(text: str) -> tuple[str, str | None]:
    """(the text without escape sequences, the text with only its colours, or None
    when it has no escapes): a log line of a program that colours its output."""
    if "\x1b" not in text:
        return _clean(text), None
    text = text.expandtabs()
    plain = _clean(_ESCAPES.sub("", text))
    coloured = _CONTROL_BUT_ESC.sub("\ufffd", _ESCAPES.sub(lambda m: m.group(0) if _SGR.fullmatch(m.group(0)) else "",
                                                              text))
    return plain, coloured


def smart_case(pattern: str) -> re.Pattern:
    """A search pattern as ripgrep's --smart-case reads it: case-insensitive unless it
    has a capital letter (an escape such as \\S is not one).  re.error when it is not
    a regular expression."""
    letters = re.sub(r"\\.", "", pattern)
    return re.compile(pattern, 0 if any(c.isupper() for c in letters) else re.IGNORECASE)


class LogView(ScrollView, can_focus=True):
    BINDINGS = [Binding("j", "scroll_down", show=False), Binding("k", "scroll_up", show=False),
                Binding("g", "scroll_home", show=False), Binding("G", "scroll_end", show=False),
                Binding("h", "scroll_left", show=False), Binding("l", "scroll_right", show=False)]

    def __init__(self, *, id: Optional[str] = None):
        super().__init__(id=id)
        self.texts: list[str] = []
        self.times = array("q")
        self.streams = bytearray()
        self.show_time = False
        self.pattern: Optional[re.Pattern] = None
        self.current: Optional[int] = None  # the line of the current match
        self.following = True
        self.colours = True  # ANSI colours of the program drawn (False: stripped)
        self.coloured: dict[int, str] = {}  # line -> its text with its colour sequences
        self._width = 0
        self._cache: LRUCache[int, Strip] = LRUCache(512)

    # ------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self.texts)

    def reset(self) -> None:
        """Forget every line (another container's log comes)."""
        self.texts, self.times, self.streams, self.coloured = [], array("q"), bytearray(), {}
        self._width, self.current, self.following = 0, None, True
        self.restyle()

    def line(self, i: int) -> str:
        """Line I as shown (with its timestamp when they are on)."""
        if self.show_time:
            stamp = dt.datetime.fromtimestamp(self.times[i] / 1e9, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ ")
            return stamp + self.texts[i]
        return self.texts[i]

    def append(self, lines: Iterable[tuple[int, str, str]]) -> None:
        """Add (time ns, stream, text) lines; follow them to the end when following."""
        width = self._width
        texts, times, streams = self.texts, self.times, self.streams
        coloured = self.coloured
        for t, stream, text in lines:
            text, ansi = split_ansi(text)
            if ansi is not None:
                coloured[len(texts)] = ansi
            texts.append(text)
            times.append(t)
            streams.append(STDERR if stream == "stderr" else 0)
            n = len(text) if text.isascii() else cell_len(text)
            if n > width:
                width = n
        self._width = width
        self._resize()
        if self.following:
            self.follow_end()

    def follow_end(self) -> None:
        # after the next refresh: lines that come before the first layout (a log read whole
        # when the view opens) must still land at the end once the view has its size
        self.scroll_end(animate=False, immediate=False, x_axis=False)

    def on_resize(self) -> None:
        if self.following:
            self.follow_end()

    def _resize(self) -> None:
        extra = 31 if self.show_time else 0
        self.virtual_size = Size(self._width + extra, len(self.texts))

    def restyle(self) -> None:
        """Forget rendered rows (timestamps, pattern or current match changed)."""
        self._cache.clear()
        self._resize()
        self.refresh()

    def matches(self) -> list[int]:
        if self.pattern is None:
            return []
        search = self.pattern.search
        return [i for i, text in enumerate(self.texts) if search(text)]

    def center(self, i: int) -> None:
        self.scroll_to(y=max(0, i - self.size.height // 2), animate=False, immediate=True)

    # ------------------------------------------------------------ rendering
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if i >= len(self.texts):
            return Strip.blank(width, style)
        strip = self._cache.get(i)
        if strip is None:
            ansi = self.coloured.get(i) if self.colours else None
            if ansi is None:
                text = Text(self.line(i), no_wrap=True)
            else:
                text = Text.from_ansi(ansi, no_wrap=True, end="")
                if self.show_time:
                    text = Text(self.line(i)[:-len(self.texts[i]) or None], no_wrap=True) + text
            # under the program's own colours (a span: render() skips .style)
            text.stylize_before(style + _RED if self.streams[i] == STDERR else style)
            if self.pattern is not None:
                text.highlight_regex(self.pattern, style="black on yellow")
            if i == self.current:
                text.stylize("reverse")
            strip = Strip(text.render(self.app.console), text.cell_len)
            self._cache[i] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, i)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()


def follow_log(app, engine: Engine, cid: str, stopped, deliver, batch_seconds: float = 0.1) -> None:
    """Read container CID's log in this (worker) thread and hand the lines to DELIVER on
    the UI loop in batches: one call per batch, not per line, so a million lines load in
    seconds.  Follows until STOPPED() says so or the container's shim is gone."""
    batch: list = []
    last = time.monotonic()
    joiner = LineJoiner()  # a line the pump read in two pieces is one line again

    def take(lines) -> None:
        batch.extend((t, stream, text.decode(errors="replace")) for t, stream, text in lines)

    def flush() -> None:
        nonlocal batch, last
        if batch and not stopped():
            app.call_from_thread(deliver, batch)
        batch, last = [], time.monotonic()

    def stop() -> bool:  # asked whenever the reader has caught up with the writer
        take(joiner.flush(PROMPT_NS))
        flush()
        return stopped()
    for t, stream, data in engine.logs(cid, follow=True, stop=stop):
        if stopped():
            return
        take(joiner.feed(t, stream, data))
        if len(batch) >= 50_000 or time.monotonic() - last > batch_seconds:
            flush()
    take(joiner.flush())
    flush()


class LogsScreen(Screen):
    """A container's log, followed live: stderr in red, t toggles timestamps,
    / searches (a regex), n/N step through the matches, w saves to a file.
    The view renders only the rows on screen, so a log of a million lines
    scrolls and follows as smoothly as a short one."""
    # the keys that open a prompt act as they arrive (priority), not once their event has bubbled
    # back up: the keys typed right behind them then go to the prompt, not to this screen
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("t", "timestamps", "timestamps"),
                Binding("f", "follow", "follow/pause"), Binding("slash", "search", "search", priority=True),
                Binding("n", "next", "next"), Binding("N", "prev", "prev", show=False),
                Binding("w", "save", "save", priority=True), Binding("c", "colours", "colours/strip")]
    BATCH_SECONDS = 0.1  # lines reach the screen in batches at most this old

    def __init__(self, engine: Engine, cid: str, name: str):
        super().__init__()
        self.engine, self.cid, self.cname = engine, cid, name
        self.stopped = False
        self.matches: list[int] = []
        self.current = -1

    @property
    def view(self) -> LogView:
        return self.query_one("#log", LogView)

    def on_unmount(self) -> None:
        self.stopped = True  # the follower thread ends within one poll

    def compose(self) -> ComposeResult:
        yield Header()
        yield LogView(id="log")
        yield Footer()

    def on_mount(self) -> None:
        self.show_title()
        self.view.focus()
        self.tail()

    def show_title(self) -> None:
        """The header says whether the view follows the log, and which match is current."""
        view = self.view
        title = f"logs · {self.cname} · {'following' if view.following else 'paused (f follows)'}"
        if not view.colours:
            title += " · colours stripped"
        if self.matches and 0 <= self.current < len(self.matches):
            title += f" · match {self.current + 1} of {len(self.matches)}"
        self.sub_title = title

    def action_colours(self) -> None:
        self.view.colours = not self.view.colours
        self.view.restyle()
        self.show_title()

    @work(thread=True, exclusive=True)
    def tail(self) -> None:
        try:
            follow_log(self.app, self.engine, self.cid, lambda: self.stopped, self.add, self.BATCH_SECONDS)
        except EngineError as e:
            self.app.call_from_thread(self.notify, short_ids(str(e)), severity="error")

    def add(self, lines: list) -> None:
        view = self.view
        first = len(view)
        view.append(lines)
        if view.pattern is not None:
            search = view.pattern.search
            texts = view.texts
            self.matches += [i for i in range(first, len(texts)) if search(texts[i])]

    def action_timestamps(self) -> None:
        self.view.show_time = not self.view.show_time
        self.view.restyle()

    def action_follow(self) -> None:
        view = self.view
        view.following = not view.following
        self.show_title()
        if view.following:
            view.follow_end()

    def action_search(self) -> None:
        from .views import AskScreen

        def done(text) -> None:
            view = self.view
            if not text:
                view.pattern, view.current, self.matches = None, None, []
                view.restyle()
                self.show_title()
                return
            try:
                pattern = smart_case(text)
            except re.error as e:
                self.notify(f"not a regular expression: {e}", severity="error")
                return
            view.pattern = pattern
            view.following = False  # searching stops the follow, f resumes it
            self.show_title()
            self.search(text)
        self.app.push_screen(AskScreen("search (a regular expression; a capital letter makes it case-sensitive; "
                                       "empty clears)"), done)

    def search(self, text: str) -> None:
        self._search(self.view, text)

    @work(thread=True, exclusive=True, group="search")
    def _search(self, view: LogView, text: str) -> None:
        found = view.matches()  # a million lines take a moment: not on the UI loop

        def show() -> None:
            self.matches, self.current = found, -1
            self.view.restyle()
            if not found:
                self.notify(f"no match for {text}", severity="warning")
            else:
                self.action_next()
        self.app.call_from_thread(show)

    def _go(self, step: int) -> None:
        if not self.matches:
            return
        self.current = (self.current + step) % len(self.matches)
        view = self.view
        view.current = self.matches[self.current]
        view.restyle()
        view.center(view.current)
        self.show_title()

    def action_next(self) -> None:
        self._go(1)

    def action_prev(self) -> None:
        self._go(-1)

    def action_save(self) -> None:
        from .views import AskScreen

        def done(path) -> None:
            if path:
                self.save(path)
        self.app.push_screen(AskScreen("save the log to:", value=f"{self.cname}.log"), done)

    def save(self, path: str) -> None:
        self._save(self.view, path)

    @work(thread=True, group="save")
    def _save(self, view: LogView, path: str) -> None:
        n = len(view)
        try:
            with open(path, "w") as f:
                f.writelines(view.line(i) + "\n" for i in range(n))
        except OSError as e:
            self.app.call_from_thread(self.notify, f"saving: {e.strerror}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"saved {n} lines to {path}")
