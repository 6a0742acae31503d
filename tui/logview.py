"""A log viewer that stays smooth on a million lines (Textual's Line API).

Lines are kept compactly (the text, a time array, a stream bytearray) and only
the rows on screen are rendered, through a small cache; appending is a list
extend, so following a busy log costs the lines that arrive, not the lines
already there. stderr is red, a search pattern is highlighted, the current
match is marked, timestamps can be shown.
"""
from __future__ import annotations

import datetime as dt
import re
from array import array
from typing import Iterable, Optional

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
STDERR = 1
_RED = Style(color="red")


def _clean(text: str) -> str:
    return _CONTROL.sub("\ufffd", text.expandtabs()) if not text.isprintable() else text


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
        self._width = 0
        self._cache: LRUCache[int, Strip] = LRUCache(512)

    # ------------------------------------------------------------ content
    def __len__(self) -> int:
        return len(self.texts)

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
        for t, stream, text in lines:
            text = _clean(text)
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
            text = Text(self.line(i), no_wrap=True)
            text.stylize(style + _RED if self.streams[i] == STDERR else style)  # a span: render() skips .style
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
