"""bin/dunnage's choice between the fork server and running the command itself
(the server: tests/test_forkserver.py)."""
from __future__ import annotations

from pathlib import Path

from dunnage.core import forkserver


def test_what_the_script_hands_to_the_server_and_what_it_runs_itself(tmp_path):
    """bin/dunnage's choice: the socket of the root the command names, or None where the
    command needs the script's own terminal (or the server is switched off)."""
    import importlib.machinery
    import importlib.util
    script = Path(forkserver.__file__).parents[2] / "bin" / "dunnage"
    loader = importlib.machinery.SourceFileLoader("dunnage_script", str(script))
    spec = importlib.util.spec_from_loader("dunnage_script", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)

    def where(argv, env=None):
        return mod._socket_path(argv, env or {}, "/work")
    sock = "/var/lib/x/run/" + forkserver.SOCK
    assert where(["--root", "/var/lib/x", "ps"]) == sock
    assert where(["--root=/var/lib/x/", "run", "-d", "img"]) == sock
    assert where(["--root", "rel", "ps"]) == "/work/rel/run/" + forkserver.SOCK
    assert where(["ps"], {b"DUNNAGE_ROOT": b"/var/lib/x"}) == sock
    assert where(["ps"]) == "/run/dunnage/" + forkserver.SOCK  # the default root's run directory
    assert where(["ps"], {b"DUNNAGE_RUN": b"/tmp/r"}) == "/tmp/r/" + forkserver.SOCK
    assert where(["--version"]) is not None and where(["logs", "-t", "c"]) is not None
    for here in ([], ["--root", "/x"], ["demo"], ["attach", "c"], ["login", "r"], ["run", "-it", "img"],
                 ["run", "--tty", "img"], ["exec", "-t", "c", "sh"], ["start", "-a", "c"],
                 ["container", "start", "-ai", "c"]):
        assert where(here) is None, here
    assert where(["ps"], {b"DUNNAGE_FORKSERVER": b"0"}) is None


def test_the_servers_ballast_takes_the_allocators_free_blocks():
    """What a forked child allocates first lands in pools of its own, not in the server's holes
    (each a shared page the child would copy: 0.3 MiB PSS per idle container, bench --only mem)."""
    import gc
    from dunnage.core.forkserver.server import fill_free_blocks, free_blocks
    junk = [bytes(n % 400) for n in range(20000)]
    del junk[::3]  # holes in many pools
    gc.collect()
    gc.disable()  # (a collection set off by the filling would free other objects: new holes)
    try:
        before = sum(n for size, n in free_blocks().items() if size > 32)
        ballast = fill_free_blocks()
        after = sum(n for size, n in free_blocks().items() if size > 32)
    finally:
        gc.enable()
    assert before > 1000
    assert after < before // 10, (before, after)
    assert len(ballast) >= before


def test_a_resolvers_first_answer_imports_nothing_the_server_has_not(tmp_path):
    """A user network's shim answers DNS with what the fork server imported: a module imported
    in the shim is private to it (dnslib alone: 1.3 MiB in every shim that answered a query)."""
    import subprocess
    import sys
    code = f"""
import socket, sys
from dunnage.core.forkserver.server import Server
from dunnage.core.store import Store
Server(Store({str(tmp_path / 'root')!r}), ("dunnage.tui.cli:main", "dunnage.tui.cli:build_parser")).preload()
before = set(sys.modules)
from dunnage.core.net.dns import Resolver
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
r = Resolver(lambda: {{"web": ["10.0.0.2", "fd00::2"]}}, a, [])
from dnslib import EDNS0, DNSRecord
for qtype in ("A", "AAAA", "MX"):
    query = DNSRecord.question("web", qtype)
    query.add_ar(EDNS0())
    reply = r._local(DNSRecord.parse(query.pack()))
    reply.add_ar(EDNS0(udp_len=r.EDNS_SIZE))
    reply.pack()
print(sorted(set(sys.modules) - before))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
