"""Snapshots of the dashboard's main screens (pytest-textual-snapshot): screens
whose content does not move with time, against a real engine.  After a deliberate
change of a screen: `.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update`
and look at the new SVGs in tests/__snapshots__/ before committing them."""
from __future__ import annotations

import os

import pytest

from dunnage.core import Engine
from dunnage.tui.app import DunnageApp

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def quiet_engine(tmp_path, image, session_root):
    """A store of its own with two created (never started) containers: nothing on
    screen depends on time."""
    from conftest import force_cleanup
    import shutil
    root = tmp_path / "root"
    e = Engine(str(root))
    # the demo image, copied from the session's store rather than built again
    shutil.copytree(session_root / "blobs", root / "blobs", dirs_exist_ok=True, symlinks=True)
    # symlinks as links: a layer may hold one to anywhere (a build test makes home -> /tmp); fifos and
    # device nodes other tests' layers hold are not the demo image's and copytree cannot copy them
    def special(d, names):
        import stat
        return [n for n in names if not (stat.S_ISREG(m := os.lstat(os.path.join(d, n)).st_mode)
                                         or stat.S_ISDIR(m) or stat.S_ISLNK(m))]
    shutil.copytree(session_root / "layers", root / "layers", dirs_exist_ok=True, symlinks=True, ignore=special)
    shutil.copy(session_root / "images" / "index.msgpack", root / "images" / "index.msgpack")
    e.create(image, ["sleep", "1"], name="alpha", network="none")
    e.create(image, ["true"], name="beta", network="none", memory="64m")
    yield e
    force_cleanup(root)


def test_snapshot_dashboard(snap_compare, quiet_engine):
    assert snap_compare(DunnageApp(quiet_engine, interval=0.5), terminal_size=(80, 24),
                        run_before=_settle)


def test_snapshot_help(snap_compare, quiet_engine):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.3)
    assert snap_compare(DunnageApp(quiet_engine, interval=0.5), terminal_size=(80, 24), run_before=before)


def test_snapshot_sorted_and_filtered(snap_compare, quiet_engine):
    async def before(pilot):
        await _settle(pilot)
        await pilot.press("O")  # reverse: beta first
        await pilot.pause(0.3)
    assert snap_compare(DunnageApp(quiet_engine, interval=0.5), terminal_size=(100, 30), run_before=before)


async def _settle(pilot):
    app = pilot.app
    for _ in range(100):
        if app.rounds >= 2 and len(app.rows) == 2:
            break
        await pilot.pause(0.1)
    await pilot.pause(0.3)
