"""A log viewer that stays smooth on a million lines (Textual's Line API).

Lines are kept compactly (the text, a time array, a stream bytearray) and only
the rows on screen are rendered, through a small cache; appending is a list
extend, so following a busy log costs the lines that arrive, not the lines
already there. stderr is red, a search pattern is highlighted, the current
match is marked, timestamps can be shown, long lines can wrap.  LogsScreen is the dashboard's screen of
a container's log, followed live in one.
"""
from __future__ import annotations

import bisect
import datetime as dt
import itertools
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
from textual.widgets import Header

from dunnage.core import Engine, EngineError
from dunnage.core.errors import InvalidParameter
from dunnage.core.logs import PROMPT_NS, LineJoiner, tail_lines
from dunnage.core.units import parse_since

from .footer import Footer
from .rows import short_ids

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONTROL_BUT_ESC = re.compile(r"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f]")
# escape sequences: CSI (colours are CSI ... m), OSC (a title, a link), and the two-character ones
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]")
_SGR = re.compile(r"\x1b\[[0-9;:]*m")
STDERR = 1
_RED = Style(color="red")
_STAMP = 28  # cells of a shown timestamp: 2026-01-02T03:04:05.678901Z and a space


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
        self.wrap = False  # long lines go on in the rows below instead of past the right edge
        self.cells = array("i")  # each line's width in cells
        self._starts = array("q")  # wrapping: the row each line starts on, and the row after the last
        self._wrap_width = 0  # the width _starts was counted for
        self._wrap_extra = 0  # and the cells a timestamp took
        self._width = 0
        self._cache: LRUCache[int, Strip] = LRUCache(512)

    # ------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self.texts)

    def reset(self) -> None:
        """Forget every line (another container's log comes)."""
        self.texts, self.times, self.streams, self.coloured = [], array("q"), bytearray(), {}
        self.cells, self._starts, self._wrap_width = array("i"), array("q"), 0
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
        texts, times, streams, cells = self.texts, self.times, self.streams, self.cells
        coloured = self.coloured
        first = len(texts)
        for t, stream, text in lines:
            text, ansi = split_ansi(text)
            if ansi is not None:
                coloured[len(texts)] = ansi
            texts.append(text)
            times.append(t)
            streams.append(STDERR if stream == "stderr" else 0)
            n = len(text) if text.isascii() else cell_len(text)
            cells.append(n)
            if n > width:
                width = n
        self._width = width
        if self.wrap and self._wrap_width:
            self._count_rows(first)
        self._resize()
        if self.following:
            self.follow_end()

    def follow_end(self) -> None:
        # after the next refresh: lines that come before the first layout (a log read whole
        # when the view opens) must still land at the end once the view has its size
        self.scroll_end(animate=False, immediate=False, x_axis=False)

    def on_resize(self) -> None:
        if self.wrap:
            self._rewrap()
        if self.following:
            self.follow_end()

    def _resize(self) -> None:
        if self.wrap:
            self.virtual_size = Size(self._wrap_width, self._starts[-1] if self._starts else 0)
            return
        extra = 31 if self.show_time else 0
        self.virtual_size = Size(self._width + extra, len(self.texts))

    def _count_rows(self, first: int) -> None:
        """Where lines FIRST on start when wrapped at _wrap_width (the rows before stay)."""
        w, extra, cells, starts = self._wrap_width, _STAMP if self.show_time else 0, self.cells, self._starts
        self._wrap_extra = extra
        del starts[first + 1:]
        row = starts[first] if len(starts) > first else 0
        if not starts:
            starts.append(0)
        for i in range(first, len(cells)):
            row += max(1, -(-(cells[i] + extra) // w))
            starts.append(row)

    def _rewrap(self) -> bool:
        """Count the rows again when the width to wrap at has changed; whether it had."""
        w = max(1, self.scrollable_content_region.width)
        if w == self._wrap_width:
            return False
        self._wrap_width, self._starts = w, array("q")
        self._count_rows(0)
        self._resize()
        return True

    def set_wrap(self, on: bool) -> None:
        """Wrap long lines (ON) or let them run past the edge, keeping the top line in view."""
        top = self.top_line()
        self.wrap, self._wrap_width = on, 0
        if on:
            self._rewrap()
        self.restyle()
        if self.following:
            self.follow_end()
        else:
            self.center(top, at_top=True)

    def top_line(self) -> int:
        """The line at the top of the view."""
        y = self.scroll_offset.y
        if self.wrap and self._starts:
            return max(0, min(bisect.bisect_right(self._starts, y) - 1, len(self.texts) - 1))
        return y

    def row_of(self, i: int) -> int:
        """The first row of line I as the view shows it (wrapped or not)."""
        return self._starts[i] if self.wrap and i < len(self._starts) else i

    def restyle(self) -> None:
        """Forget rendered rows (timestamps, pattern or current match changed)."""
        self._cache.clear()
        if self.wrap and self._wrap_width and self._wrap_extra != (_STAMP if self.show_time else 0):
            # a timestamp on or off makes lines longer or shorter
            self._count_rows(0)
        self._resize()
        self.refresh()

    def matches(self) -> list[int]:
        if self.pattern is None:
            return []
        search = self.pattern.search
        return [i for i, text in enumerate(self.texts) if search(text)]

    def center(self, i: int, at_top: bool = False) -> None:
        y = self.row_of(i)
        self.scroll_to(y=y if at_top else max(0, y - self.size.height // 2), animate=False, immediate=True)

    # ------------------------------------------------------------ rendering
    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        i = scroll_y + y
        width = self.size.width
        style = self.rich_style
        part = 0
        if self.wrap:
            if self._rewrap():
                self.refresh()
            starts = self._starts
            if not starts or i >= starts[-1]:
                return Strip.blank(width, style)
            row = i
            i = bisect.bisect_right(starts, row) - 1
            part, scroll_x = row - starts[i], 0
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
        if part or self.wrap:
            x = part * self._wrap_width
            return strip.crop_extend(x, x + self._wrap_width, style).crop_extend(0, width, style).apply_offsets(x, i)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, i)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()


def follow_log(app, engine: Engine, cid: str, stopped, deliver, batch_seconds: float = 0.1,
               since: Optional[int] = None, tail: Optional[int] = None) -> None:
    """Read container CID's log in this (worker) thread and hand the lines to DELIVER on
    the UI loop in batches: one call per batch, not per line, so a million lines load in
    seconds.  Follows until STOPPED() says so or the container's shim is gone.  As `dunnage
    logs --tail TAIL --since SINCE` does: only the last TAIL lines written so far, and of
    those only the ones from SINCE (ns) on."""
    batch: list = []
    last = time.monotonic()
    joiner = LineJoiner()  # a line the pump read in two pieces is one line again

    def take(lines) -> None:
        batch.extend((t, stream, text.decode(errors="replace")) for t, stream, text in lines
                     if since is None or t >= since)

    def flush() -> None:
        nonlocal batch, last
        if batch and not stopped():
            app.call_from_thread(deliver, batch)
        batch, last = [], time.monotonic()

    def stop() -> bool:  # asked whenever the reader has caught up with the writer
        take(joiner.flush(PROMPT_NS))
        flush()
        return stopped()
    records = engine.logs(cid, follow=True, stop=stop)
    if tail is not None:
        last_lines, skip = tail_lines(str(engine.container(cid).log_path), tail)
        for t, stream, line in last_lines:
            if line.endswith(b"\n"):
                take([(t, stream, line[:-1])])
            else:  # the unfinished last piece: what follows completes it
                take(joiner.feed(t, stream, line))
        records = itertools.islice(records, skip, None)
    for t, stream, data in records:
        if stopped():
            return
        take(joiner.feed(t, stream, data))
        if len(batch) >= 50_000 or time.monotonic() - last > batch_seconds:
            flush()
    take(joiner.flush())
    flush()


class LogsScreen(Screen):
    """A container's log, followed live: stderr in red, t toggles timestamps,
    / searches (a regex), n/N step through the matches, w saves to a file, W wraps
    long lines, S and T read it again from a time on or its last lines only.
    The view renders only the rows on screen, so a log of a million lines
    scrolls and follows as smoothly as a short one."""
    # the keys that open a prompt act as they arrive (priority), not once their event has bubbled
    # back up: the keys typed right behind them then go to the prompt, not to this screen
    BINDINGS = [Binding("escape,q", "app.pop_screen", "back"), Binding("t", "timestamps", "timestamps"),
                Binding("f", "follow", "follow/pause"), Binding("slash", "search", "search", priority=True),
                Binding("n", "next", "next"), Binding("N", "prev", "prev", show=False),
                Binding("w", "save", "save", priority=True), Binding("c", "colours", "colours/strip"),
                Binding("W", "wrap", "wrap"), Binding("S", "since", "since", priority=True),
                Binding("T", "tail_lines", "tail", priority=True)]
    BATCH_SECONDS = 0.1  # lines reach the screen in batches at most this old

    def __init__(self, engine: Engine, cid: str, name: str):
        super().__init__()
        self.engine, self.cid, self.cname = engine, cid, name
        self.stopped = False
        self.matches: list[int] = []
        self.current = -1
        self.since: Optional[int] = None  # ns: only lines written from then on (--since)
        self.since_text = ""  # as it was typed, for the header
        self.tail_n: Optional[int] = None  # only the last lines written before the view opened (--tail)
        self.generation = 0  # of the reading: a new since or tail starts another, the last one ends

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
        if view.wrap:
            title += " · wrapped"
        if self.since is not None:
            title += f" · since {self.since_text}"
        if self.tail_n is not None:
            title += f" · tail {self.tail_n}"
        if self.matches and 0 <= self.current < len(self.matches):
            title += f" · match {self.current + 1} of {len(self.matches)}"
        self.sub_title = title

    def action_colours(self) -> None:
        self.view.colours = not self.view.colours
        self.view.restyle()
        self.show_title()

    def action_wrap(self) -> None:
        self.view.set_wrap(not self.view.wrap)
        self.show_title()

    def action_since(self) -> None:
        from .views import AskScreen

        def done(text) -> None:
            if text is None:
                return
            try:
                since = parse_since(text)
            except InvalidParameter as e:
                self.notify(str(e), severity="error")
                return
            # the epoch, as docker's --since 0: from the start
            self.since, self.since_text = (since, text) if since > 0 else (None, "")
            self.reread()
        self.app.push_screen(AskScreen("since (10m, 2h, a unix time or an ISO time; 0: from the start)",
                                       value=self.since_text), done)

    def action_tail_lines(self) -> None:
        from .views import AskScreen

        def done(text) -> None:
            if text is None:
                return
            if text == "all":
                n = None
            elif text.isdigit():
                n = int(text)
            else:
                self.notify(f'invalid value for tail: "{text}" (a number of lines, or all)', severity="error")
                return
            self.tail_n = n
            self.reread()
        self.app.push_screen(AskScreen("tail: the last N lines (all: the whole log)",
                                       value="" if self.tail_n is None else str(self.tail_n)), done)

    def reread(self) -> None:
        """Read the log again from the engine with the since and tail now asked for."""
        self.generation += 1
        self.matches, self.current = [], -1
        view = self.view
        view.reset()
        view.current = None
        self.show_title()
        self.tail()

    @work(thread=True, exclusive=True)
    def tail(self) -> None:
        generation = self.generation

        def stopped() -> bool:
            return self.stopped or self.generation != generation

        def deliver(lines) -> None:  # on the UI loop: a batch of a reading since replaced is dropped
            if not stopped():
                self.add(lines)
        try:
            follow_log(self.app, self.engine, self.cid, stopped, deliver, self.BATCH_SECONDS,
                       since=self.since, tail=self.tail_n)
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
