"""Work-arounds for bugs of the pinned Textual release, applied when the dashboard is imported.

StylesCache.get_inner_outer is an lru_cache(1024) on an instance method
(Textualize/textual#6665, open): its keys hold the StylesCache of up to 1024
widgets long gone, each with the rendered lines it cached.  Opening the
container page 15 times left 130,000 objects behind (75,000 before), and every
full garbage collection walked them: 100-240 ms pauses, which landed inside a
screen's first frame.  Cached here on the two colours alone, as meant.

Header watches the app's title and sub_title, and the app drops a closed
widget's watcher only when that value changes: every container page opened
left its header behind.  A header forgets its watchers when it goes."""
from __future__ import annotations

from functools import lru_cache

from textual._styles_cache import StylesCache
from textual.style import Style
from textual.widgets import Header


@lru_cache(1024)
def _inner_outer(base_background, background) -> tuple[Style, Style]:
    return Style(background=base_background + background), Style(background=base_background)


def _header_unmount(self) -> None:
    for name in ("title", "sub_title"):
        watchers = getattr(self.app, "__watchers", {}).get(name)
        if watchers:
            watchers[:] = [(node, callback) for node, callback in watchers if node is not self]


def apply() -> None:
    if hasattr(StylesCache.__dict__.get("get_inner_outer"), "cache_info"):  # still the instance-keyed cache
        StylesCache.get_inner_outer = staticmethod(_inner_outer)
    if "_on_unmount" not in Header.__dict__:
        Header._on_unmount = _header_unmount


apply()
