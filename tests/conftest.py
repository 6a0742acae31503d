"""Shared fixtures: a temporary dunnage root, the demo image, the leak check.

Everything here runs for real: root, FUSE, namespaces, cgroups.  Nothing is
mocked.  A session-wide check fails the run if the tests leave a mount, a
cgroup, a process, a network namespace or a file in the working directory behind."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from dunnage.core import Engine
from dunnage.core.images.demo import DEMO_IMAGE

from peers import cgroup_roots

HERE = Path(__file__).parent
# the command as installed (bin/dunnage): it runs commands in the root's fork server
# when one is up, else itself
DUNNAGE = str(Path(sys.executable).parent / "dunnage")


UNIT = HERE / "unit"


def _real(items) -> bool:
    """Whether ITEMS hold a test outside tests/unit: the pure tests there run anywhere,
    as any user; every other test runs the real thing and needs root and /dev/fuse."""
    return any(UNIT not in Path(item.path).parents for item in items)


def pytest_configure(config):
    """A run started in the background by a shell without job control (`cmd &` in a script,
    nohup) has SIGINT ignored, and so has every command it starts (an ignored signal stays
    ignored across exec): Python then installs no KeyboardInterrupt handler, and a test's
    ctrl-c (send_signal(SIGINT)) does nothing.  Caught here, it is back at its default in
    the commands, as a terminal's ctrl-c finds it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_finish(session):
    if not _real(session.items):
        return
    if os.geteuid() != 0:
        pytest.exit("dunnage's tests need root (namespaces, cgroups, FUSE); tests/unit runs as any user",
                    returncode=1)
    if not os.path.exists("/dev/fuse"):
        pytest.exit("dunnage's tests need /dev/fuse; tests/unit runs without it", returncode=1)


# ------------------------------------------------------------------ leak check
# Mounts the peers make once per machine and keep, by design: the first `ip netns add`
# (podman's first container on a network does one) makes /run/netns a shared mount of itself.
# A namespace left in it is still a leak (see _netns).
PEER_ONE_TIME_MOUNTS = {"/run/netns"}


def _mounts() -> set[str]:
    with open("/proc/self/mountinfo") as f:
        return {line.split()[4] for line in f} - PEER_ONE_TIME_MOUNTS


def _dunnage_cgroups() -> set[str]:
    """dunnage's cgroups, the shared dunnage/ parent included, and podman's
    libpod_parent (the tests that compare with podman must not leave it)."""
    out = set()
    for r in cgroup_roots():
        for parent in ("dunnage", "libpod_parent", "dunnage-runtime"):
            d = os.path.join(r, parent)
            if os.path.isdir(d):
                out.add(d)
                out |= {os.path.join(d, x) for x in os.listdir(d) if os.path.isdir(os.path.join(d, x))}
    return out


def _procs() -> set[tuple[int, str]]:
    out = set()
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("dunnage-"):
                out.add((int(p), comm))
    return out


def _netns() -> set[str]:
    try:
        return set(os.listdir("/run/netns"))
    except FileNotFoundError:
        return set()


def _links() -> set[str]:
    """dunnage's bridges (dunnage0, dn-*) and veths (dv*, dt* while being made), and the
    user networks' bridges of the tests' own dockerd (br-*)."""
    return {n for n in os.listdir("/sys/class/net") if n.startswith(("dunnage", "dn-", "dv", "dt", "br-"))}


def _nft_tables() -> set[str]:
    from dunnage.core.net.firewall import nft
    out = nft("list tables")
    return {line.split()[-1] for line in out.splitlines() if line.split()[-1].startswith("dunnage")}


# what the test tools themselves keep in the working directory (hypothesis's examples, pytest's
# cache, the snapshot plugin's report): anything else new there was written by a relative path
CWD_TOOL_FILES = {".hypothesis", ".pytest_cache", "snapshot_report.html"}


def _cwd_files() -> set[str]:
    """The names in the working directory (the checkout, in a full run): a peer or a test that
    writes a relative path (conmon's `oom` on an OOM kill) would leave it there."""
    return set(os.listdir(os.getcwd())) - CWD_TOOL_FILES


def snapshot() -> dict:
    return {"mounts": _mounts(), "cgroups": _dunnage_cgroups(), "procs": _procs(), "netns": _netns(),
            "links": _links(), "nft": _nft_tables(), "cwd": _cwd_files()}


def leaks(before: dict, after: dict) -> dict:
    return {k: sorted(map(str, after[k] - before[k])) for k in before if after[k] - before[k]}


@pytest.fixture(scope="session", autouse=True)
def leak_check(request):
    if not _real(request.session.items):  # tests/unit alone: nothing to leak, and no root to look
        yield
        return
    before = snapshot()
    yield
    # shims finish their teardown asynchronously: give them a moment
    end = time.monotonic() + 15
    while time.monotonic() < end:
        found = leaks(before, snapshot())
        if not found:
            return
        time.sleep(0.2)
    pytest.fail(f"tests left things behind: {found}", pytrace=False)


# ------------------------------------------------------------------ store and engine
def force_cleanup(root: Path) -> None:
    """Remove every container of ROOT, whatever state it is in, then lazily
    unmount anything still mounted under it."""
    try:
        e = Engine(str(root))
        for c in e.containers(all_=True):
            try:
                e.remove(c.id, force=True)
            except Exception:  # noqa: BLE001
                pass
    except Exception:  # noqa: BLE001
        pass
    try:  # its networks: bridges, the default one too, and its nftables table
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        Networks(Store(str(root))).destroy_all()
    except Exception:  # noqa: BLE001
        import traceback
        traceback.print_exc()
    for mp in sorted(_mounts(), reverse=True):
        if mp.startswith(str(root) + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True)


@pytest.fixture(scope="session")
def session_root():
    root = Path(tempfile.mkdtemp(prefix="dunnage-test-"))
    e = Engine(str(root))
    e.ensure_demo_image()
    yield root
    force_cleanup(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def engine(session_root):
    """The session's engine; every container a test makes is removed after it."""
    e = Engine(str(session_root))
    before = {c.id for c in e.containers(all_=True)}
    yield e
    for c in e.containers(all_=True):
        if c.id not in before:
            try:
                e.remove(c.id, force=True)
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture
def fresh_root(tmp_path):
    """An empty store of its own (for image tests that count what is in it)."""
    root = tmp_path / "root"
    yield root
    force_cleanup(root)


@pytest.fixture
def image():
    return DEMO_IMAGE


def cli(root, *args, input=None, timeout=60, user=None) -> subprocess.CompletedProcess:
    """Run the real command line against ROOT."""
    cmd = [DUNNAGE, "--root", str(root), *args]
    if user is not None:
        # an unprivileged user who can read the checkout wherever it lives (a clone in a 0700
        # directory, such as /root/...): CAP_DAC_READ_SEARCH is kept across exec as an ambient
        # capability; the user is still not root, which is what dunnage checks
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
               "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search", *cmd]
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout)


@pytest.fixture
def run_cli(session_root, engine):
    def _run(*args, **kw):
        return cli(session_root, *args, **kw)
    return _run


def wait_for(pred, timeout=10.0, interval=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("condition not met in time")


class Tmux:
    """A terminal a person would use: a tmux session running CMD, keys typed into
    it, the screen read back.  Use as a context manager: the session is killed after."""

    def __init__(self, cmd: str, w: int = 90, h: int = 20):
        self.name = f"dunnage-test-{os.getpid()}-{id(self)}"
        # killing the last session ends the tmux server, and a session asked for meanwhile
        # can meet the server on its way out ("server exited unexpectedly"): ask again
        for attempt in range(5):
            # (a COLUMNS or LINES in the tmux server's environment would win over the window's size)
            r = subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", str(w), "-y", str(h),
                                "unset COLUMNS LINES; " + cmd], capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.2)
        raise RuntimeError(f"tmux new-session: {r.stderr.decode().strip()}")

    def screen(self, escapes: bool = False) -> str:
        """The screen's text; with ESCAPES, with the SGR sequences of its colours and attributes."""
        return subprocess.run(["tmux", "capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.name],
                              capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def resize(self, w: int, h: int) -> None:
        subprocess.run(["tmux", "resize-window", "-t", self.name, "-x", str(w), "-y", str(h)], check=True)

    def alive(self) -> bool:
        return subprocess.run(["tmux", "has-session", "-t", self.name], capture_output=True).returncode == 0

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True)

    def __enter__(self) -> "Tmux":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:  # what the terminal showed, in the failure's captured output
            try:
                print(f"tmux screen when the test failed:\n{self.screen()}")
            except Exception:  # noqa: BLE001
                pass
        self.close()


def dunnage_cmd(root) -> str:
    """The command line, as a shell would run it, against ROOT."""
    return f"{DUNNAGE} --root {root}"
