"""The dashboard's footer: Textual's, recomposed only when the keys it shows change.

Textual's footer recomposes (a dozen FooterKey widgets mounted afresh, 15-35 ms)
each time its screen's bindings may have changed, which includes every screen
pushed over it and every return to it.  The recompose under a new screen ran
inside that screen's first frame, for a footer nobody sees, and got it wrong
besides (under another screen the list's keys are disabled, so it lost them
until the next recompose)."""
from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer as TextualFooter


class Footer(TextualFooter):
    _shown: tuple | None = None  # what the last compose showed

    def _keys(self) -> tuple:
        """What compose would show now: the shown bindings with their state, and the keymap's display."""
        app = self.app
        return tuple((b, enabled, tooltip, app.get_key_display(b))
                     for _, b, enabled, tooltip in self.screen.active_bindings.values()
                     if b.show or b.action == "command_palette")

    def compose(self):
        self._shown = self._keys() if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if self._bindings_ready and screen is not self.app.screen:
            return  # under another screen: its return changes the bindings again, and compares then
        if self._shown is not None and self.is_attached and screen is self.screen and self._keys() == self._shown:
            return
        super().bindings_changed(screen)
