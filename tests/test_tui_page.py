"""The container page opens quickly (issue 23: within the other views' times with 50
containers): what it builds and what it leaves for later, against a real container."""
from __future__ import annotations

import pytest
from textual.widgets import DataTable, Footer, Tree
from textual.widgets._footer import FooterKey

from dunnage.tui.app import DunnageApp
from dunnage.tui.page import ContainerScreen

from test_tui import page_of, until

pytestmark = pytest.mark.timeout(120)


def select(app, cid) -> None:
    t = app.query_one("#containers", DataTable)
    t.move_cursor(row=t.get_row_index(cid))


async def test_a_page_over_the_list_leaves_the_lists_footer_alone(engine, image):
    """The list's footer was recomposed (its keys mounted afresh) under the page, inside the
    page's first frame, and again on the way back, to show the same keys."""
    c = engine.run(image, ["sleep", "300"], name="footed", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows and app.screen.query(FooterKey))
        footer = app.screen.query_one(Footer)
        keys = list(footer.query(FooterKey))
        assert "stop" in [k.action for k in keys]
        select(app, c.id)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen) and app.screen.query(FooterKey))
        await pilot.pause(0.2)
        assert list(footer.query(FooterKey)) == keys  # under the page: not recomposed
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ContainerScreen))
        await pilot.pause(0.2)
        assert list(footer.query(FooterKey)) == keys  # back: the same keys, so the same widgets
        await pilot.press("q")


async def test_the_page_builds_a_tab_when_it_is_first_shown(engine, image):
    """The charts first; top, inspect and files are built (and loaded) when their tab is first
    opened, by key or by a click on the tab, and then take the keys."""
    c = engine.run(image, ["sleep", "300"], name="tabbed", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)
    async with app.run_test(size=(100, 30)) as pilot:
        page = await page_of(pilot, app, c.id)
        await until(pilot, lambda: page.query("#page-cpu") and "CPU" in page.query_one("#page-cpu").title)
        assert not page.query("#top-table") and not page.query("#page-tree") and not page.query("#files-tree")
        await pilot.press("2")
        await until(pilot, lambda: page.query("#top-table") and page.query_one("#top-table", DataTable).row_count)
        assert app.focused is page.query_one("#top-table") and page.query_one("#top-table").display
        assert "sleep 300" in str(page.query_one("#top-table", DataTable).get_row_at(0))
        await pilot.click("#inspect")  # the tab's label
        await until(pilot, lambda: page.query("#page-tree") and page.query_one("#page-tree", Tree).root.children)
        assert app.focused is page.query_one("#page-tree") and not page.query_one("#top-table").display
        await pilot.press("4")
        await until(pilot, lambda: page.query("#files-tree") and page.query_one("#files-tree").loaded_dirs)
        await pilot.press("1")
        await until(pilot, lambda: page.query_one("#charts").display and not page.query_one("#files-tree").display)
        await pilot.press("escape", "q")


async def test_a_closed_page_leaves_nothing_behind(engine, image):
    """Textual kept every closed page's header (a watcher of the app's title) and the render
    cache of up to 1024 dead widgets (an lru_cache keyed on them): the heap grew with each page
    opened, and so did every full garbage collection's pause."""
    import gc
    from collections import Counter
    from textual._styles_cache import StylesCache
    from textual.widget import Widget
    c = engine.run(image, ["sleep", "300"], name="leaky", detach=True, network="none")
    app = DunnageApp(engine, interval=0.3)

    def no_page() -> bool:  # (the last one goes once its workers are done)
        gc.collect()
        return not any(isinstance(o, ContainerScreen) for o in gc.get_objects())

    def alive() -> tuple[Counter, int]:
        objs = gc.get_objects()
        return Counter(type(o).__name__ for o in objs if isinstance(o, Widget)), sum(
            isinstance(o, StylesCache) for o in objs)

    async def visit() -> None:
        app.open_page(c.id)
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen) and app.screen.query(FooterKey))
        await pilot.press("2", "3")  # its lazily built tabs too
        await until(pilot, lambda: app.screen.query("#page-tree"))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ContainerScreen))

    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: c.id in app.rows)
        for _ in range(2):
            await visit()
        await until(pilot, no_page)
        widgets, caches = alive()
        for _ in range(6):
            await visit()
        await until(pilot, no_page)
        more_widgets, more_caches = alive()
        assert more_widgets.total() <= widgets.total() + 2, more_widgets - widgets
        assert more_caches <= caches + 2, (caches, more_caches)
        await pilot.press("q")
