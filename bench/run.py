"""dunnage's benchmarks, each side by side with its peer in the same run.

    scripts/dev.sh bench [--runs N] [--only start]

start: `dunnage run --rm --network none local/busybox true` against
       `podman --runtime runc run --rm --network none ... true` of the same
       tarball (podman import), alternated run by run; wall time of the whole
       command, median and spread, reported as the ratio dunnage / podman.
pull:  a Debian minbase (debootstrap, cached in /var/tmp/dunnage-bench) as a
       one-layer image in a docker-registry on 127.0.0.1: `dunnage pull`
       against `podman pull` (fresh stores each run) and against the floor,
       `gzip -d | tar -x` of the same layer; and each stage of a pull alone (a pull
       runs them at once): the layer's download (curl), its inflate (gzip -dc,
       and igzip, dunnage's), and the unpack of the uncompressed tar (dunnage's,
       with its diff id, and tar -x); the commit is a rename and a record.
load:  the same image as a docker archive: `dunnage load` against `podman load`.
net:   busybox nc (a sink) and httpd in a container with published ports:
       one TCP connection pushing 256 MiB, and 300 HTTP connections one after
       another, through the published port on 127.0.0.1, straight to the
       container's address, and through podman's published port (bridge).
runtime: `podman run --rm --network none busybox true` with dunnage-runtime as
       podman's OCI runtime against the same with runc, alternated.
mem:   10 idle containers each: PSS of dunnage's shim + FUSE server per
       container against podman's conmon, and `run -d` to running.
sample: one sampling round of 100 running containers (CPU, memory, IO,
       network, pids) against `podman stats --no-stream` of 10; then, with 50
       containers, the dashboard's first sampled frame, each view's opening (images,
       volumes, networks, a container's page, its logs) and its CPU use and RSS over 60 s.
loop:  100 containers run and removed one after another on the default bridge
       with a published port: mounts, cgroups, processes, netns, links, nft
       tables, endpoints and port-map elements left afterwards (all should be 0).
fs:    a Debian minbase with python3 (debootstrap) as the lower layer of kernel
       overlayfs, fuse-overlayfs and dunnage.fuse: find + tar of the whole tree
       with cold and warm caches, and `python3 -c pass` started through the
       mount, as ratios to the kernel and to fuse-overlayfs.
fs-walk: the same walks and python3 alone, 8 runs (a single cold walk varies by
       2x on this host's disk).
fs-real: issue 18's real work on a Debian minbase with python3, through kernel
       overlayfs (docker's overlay2 driver) and dunnage.fuse: dd bs=100
       count=20000, a log appended to (one open; echo >> 5000 times), tar c of
       /usr cold and warm, cp -a of python's stdlib, dd 256M conv=fsync,
       python3's imports of json, asyncio, email and http.client cold and
       warm, and initdb + pgbench -i -s 5 of Debian's postgresql 15 with its
       data on the mount (where installed): ratios dunnage/kernel.  Beside them two
       FUSE servers in C, what FUSE itself costs: fuse-overlayfs (podman's), and, if
       DUNNAGE_BENCH_PASSTHROUGH_HP names one, libfuse's passthrough_hp over a kernel
       overlayfs mount (the kernel's union behind FUSE's transport; no postgres: it
       makes files as itself, so it cannot serve one).
build: issue 20's two-stage build whose context is Python's standard library
       (/usr/lib/python3.11 without caches and packages): the first stage copies it and
       runs md5sum and tar czf over it, the second copies the results; cold (--no-cache),
       after a one-file change, and with nothing changed: `dunnage build` against
       BuildKit (`DOCKER_BUILDKIT=1 docker build` on a dockerd of its own, tests/peers.py),
       alternated run by run, ratios dunnage/BuildKit.
compose: `up -d` and `down -v` of a five-service project (a named volume, the default
       network, one service waiting for another's health check): `dunnage compose`
       against Debian's `docker-compose` on a dockerd of its own, alternated, ratios.
api:   issue 19's Engine API: /usr/bin/docker through `dunnage system service` against a
       dockerd of its own (same image archive): `run --rm --network none busybox true`,
       `ps` and `inspect` with 100 running containers, and `docker stats` streaming 50 of
       them: the service's CPU and RSS against dockerd's (and with its containerd and shims).
Results are printed and written to bench/results/<name>.json."""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from peers import Dockerd, Podman, Registry  # noqa: E402 - the same peers the tests use
DUNNAGE = [str(Path(sys.executable).parent / "dunnage")]  # the command as installed (bin/dunnage)


def timed(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"benchmark command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()}")
    return dt


def settled() -> None:
    """Waits until the disk has written back what earlier runs left dirty (and the
    discards of the trees they removed), so that no run pays for the one before:
    on this host a tar -x right after an rm -rf of the same size takes 6 s, and
    0.8 s once the disk is quiet."""
    os.sync()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with open("/proc/meminfo") as f:
            kb = sum(int(line.split()[1]) for line in f if line.startswith(("Dirty:", "Writeback:")))
        if kb < 4096:
            break
        time.sleep(0.2)
    time.sleep(1)


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {"median_s": statistics.median(xs), "p10_s": xs[len(xs) // 10], "p90_s": xs[(len(xs) * 9) // 10],
            "min_s": xs[0], "runs": len(xs)}


def bench_start(runs: int) -> dict:
    from dunnage.core.images.demo import busybox_rootfs_tar
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        droot = work / "dunnage"
        d = DUNNAGE + ["--root", str(droot)]
        subprocess.run(d + ["import", str(tarball), "local/busybox"], check=True, capture_output=True)
        podman = Podman()
        try:
            r = podman("import", str(tarball), "localhost/busybox")
            if r.returncode != 0:
                raise SystemExit(f"podman import failed: {r.stderr.decode()}")
            dcmd = d + ["run", "--rm", "--network", "none", "local/busybox", "true"]
            pcmd = podman.cmd + ["run", "--rm", *Podman.RUN, "localhost/busybox", "true"]
            # the same on each one's default bridge network (veth, address, NAT rules)
            dbr = d + ["run", "--rm", "local/busybox", "true"]
            pbr = podman.cmd + ["run", "--rm", *[x for x in Podman.RUN if x not in ("--network", "none")],
                                "localhost/busybox", "true"]
            for _ in range(2):  # warm both up
                timed(dcmd), timed(pcmd), timed(dbr), timed(pbr)
            dt, pt, dbt, pbt = [], [], [], []
            for _ in range(runs):
                dt.append(timed(dcmd))
                pt.append(timed(pcmd))
                dbt.append(timed(dbr))
                pbt.append(timed(pbr))
        finally:
            podman.close()
        ds, ps, dbs, pbs = summary(dt), summary(pt), summary(dbt), summary(pbt)
        return {"name": "start", "what": "run --rm busybox true, whole command (--network none, then bridge)",
                "dunnage": ds, "podman": ps, "ratio": ds["median_s"] / ps["median_s"],
                "dunnage bridge": dbs, "podman bridge": pbs, "ratio bridge": dbs["median_s"] / pbs["median_s"]}
    finally:
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        Networks(Store(str(work / "dunnage"))).destroy_all()
        shutil.rmtree(work, ignore_errors=True)


def bench_runtime(runs: int) -> dict:
    """podman run --rm with dunnage-runtime as its OCI runtime against the same with runc."""
    from dunnage.core.images.demo import busybox_rootfs_tar
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    podman = Podman()
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        r = podman("import", str(tarball), "localhost/busybox")
        if r.returncode != 0:
            raise SystemExit(f"podman import failed: {r.stderr.decode()}")
        runc = podman.cmd + ["run", "--rm", *Podman.RUN, "localhost/busybox", "true"]
        ours = list(runc)
        ours[ours.index("--runtime") + 1] = str(Path(sys.executable).parent / "dunnage-runtime")
        for _ in range(2):
            timed(ours), timed(runc)
        ot, rt = [], []
        for _ in range(runs):
            ot.append(timed(ours))
            rt.append(timed(runc))
        os_, rs = summary(ot), summary(rt)
        return {"name": "runtime", "what": "podman run --rm --network none busybox true: dunnage-runtime vs runc",
                "dunnage": os_, "runc": rs, "ratio": os_["median_s"] / rs["median_s"]}
    finally:
        podman.close()
        shutil.rmtree(work, ignore_errors=True)


CACHE = Path(os.environ.get("DUNNAGE_BENCH_CACHE", "/var/tmp/dunnage-bench"))


def minbase_layout() -> Path:
    """A Debian minbase root (debootstrap, from the package mirror) as a one-layer
    OCI layout (umoci), cached between runs."""
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = CACHE / "minbase"
    if not (rootfs / "usr" / "bin").is_dir():
        subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), "http://deb.debian.org/debian"],
                       check=True, capture_output=True)
    lay = CACHE / "layout"
    if not (lay / "index.json").exists():
        work = CACHE / "umoci-work"
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["umoci", "init", "--layout", str(lay)], check=True)
        subprocess.run(["umoci", "new", "--image", f"{lay}:1"], check=True)
        subprocess.run(["umoci", "unpack", "--image", f"{lay}:1", str(work)], check=True, capture_output=True)
        subprocess.run(["cp", "-a", f"{rootfs}/.", str(work / "rootfs")], check=True)
        subprocess.run(["umoci", "repack", "--image", f"{lay}:1", str(work)], check=True, capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return lay


def _fresh_inodes(path: Path) -> None:
    """Waits until no inode near PATH was freed recently, if its file system is an ext4
    without a journal (this host's root): such an ext4 skips each inode freed in the last
    60 s, or 360 s while its table block is dirty (as the first new inode beside it makes
    it), and reads that block again at every allocation in the group: 2-5 s of system time
    for podman's pull, or tar's, right after another's tree was removed (dunnage's layers
    go to groups of their own: unpack.py's _mark_top).  So a pull or load bench times no
    run after a removal: its trees stay until all runs are done, and its first run waits
    here for what ran before it."""
    settled()
    best, dev, fstype = "", "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            src, mnt, typ = line.split()[:3]
            if (str(path) + "/").startswith(mnt.rstrip("/") + "/") and len(mnt) >= len(best):
                best, dev, fstype = mnt, os.path.basename(src), typ
    try:
        nojournal = Path(f"/sys/fs/ext4/{dev}/journal_task").read_text().strip() == "<none>"
    except OSError:
        nojournal = False
    if fstype == "ext4" and nojournal:
        time.sleep(370)


def bench_pull(runs: int) -> dict:
    lay = minbase_layout()
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    reg = Registry(work / "registry")
    kept: list[Podman] = []
    try:
        ref = f"{reg.host}/bench/minbase:1"
        subprocess.run(["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{lay}:1", f"docker://{ref}"], check=True)
        man = json.loads((lay / "blobs/sha256" / json.loads((lay / "index.json").read_text())["manifests"][0]["digest"][7:]).read_text())
        layer = lay / "blobs/sha256" / man["layers"][0]["digest"][7:]
        plain = work / "layer.tar"
        subprocess.run(["sh", "-c", f"gzip -dc {layer} > {plain}"], check=True)
        url = f"http://{reg.host}/v2/bench/minbase/blobs/{man['layers'][0]['digest']}"
        # where the time goes: each stage of a pull alone (a pull runs them at once)
        stages = {"stage: download (curl)": ["curl", "-sf", "-o", "/dev/null", url],
                  "stage: inflate (gzip -dc)": ["sh", "-c", f"gzip -dc {layer} >/dev/null"],
                  "stage: inflate (igzip)": [sys.executable, "-c", "import sys; from isal import igzip; "
                                             "f = igzip.open(sys.argv[1])\nwhile f.read(1 << 20): pass", str(layer)],
                  "stage: unpack (dunnage's)": [sys.executable, "-c", "import sys; from pathlib import Path; "
                                                "from dunnage.core.images.unpack import unpack_layer; "
                                                "unpack_layer(open(sys.argv[1], 'rb'), Path(sys.argv[2]))",
                                                str(plain), str(work / "x")],
                  "stage: unpack (tar -x)": ["sh", "-c", f"mkdir {work / 'x'} && tar -x -C {work / 'x'} -f {plain}"]}
        dt, pt, ft = [], [], []
        st: dict[str, list[float]] = {k: [] for k in stages}
        # every tree stays until all runs are done, and the order alternates (_fresh_inodes)
        _fresh_inodes(work)
        for i in range(runs):
            def dunnage() -> None:
                settled()
                dt.append(timed(DUNNAGE + ["--root", str(work / f"d{i}"), "pull", "-q", ref]))

            def podman() -> None:
                settled()
                kept.append(Podman())
                pt.append(timed(kept[-1].cmd + ["pull", "-q", "--tls-verify=false", ref]))

            for f in (dunnage, podman) if i % 2 == 0 else (podman, dunnage):
                f()
            floor = work / f"floor{i}"
            floor.mkdir()
            settled()
            ft.append(timed(["sh", "-c", f"gzip -dc {layer} | tar -x -C {floor}"]))
            for j, (k, cmd) in enumerate(stages.items()):
                settled()
                st[k].append(timed(cmd))
                if (work / "x").exists():
                    os.rename(work / "x", work / f"x{i}-{j}")
        ds, ps, fs = summary(dt), summary(pt), summary(ft)
        return {"name": "pull", "what": f"pull of a Debian minbase ({layer.stat().st_size >> 20} MiB gzip) from 127.0.0.1",
                "dunnage": ds, "podman": ps, "floor (gzip -d | tar -x)": fs, "ratio": ds["median_s"] / ps["median_s"],
                "ratio_to_floor": ds["median_s"] / fs["median_s"], **{k: summary(v) for k, v in st.items()}}
    finally:
        for p in kept:
            p.close()
        reg.close()
        shutil.rmtree(work, ignore_errors=True)


def bench_load(runs: int) -> dict:
    lay = minbase_layout()
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    kept: list[Podman] = []
    try:
        arc = work / "minbase.tar"
        subprocess.run(["skopeo", "copy", "-q", f"oci:{lay}:1", f"docker-archive:{arc}:bench/minbase:1"], check=True)
        dt, pt = [], []
        _fresh_inodes(work)  # as in bench_pull: no timed run after a tree's removal
        for i in range(runs):
            def dunnage() -> None:
                settled()
                dt.append(timed(DUNNAGE + ["--root", str(work / f"d{i}"), "load", "-q", "-i", str(arc)]))

            def podman() -> None:
                settled()
                kept.append(Podman())
                pt.append(timed(kept[-1].cmd + ["load", "-q", "-i", str(arc)]))

            for f in (dunnage, podman) if i % 2 == 0 else (podman, dunnage):
                f()
        ds, ps = summary(dt), summary(pt)
        return {"name": "load", "what": "load of the minbase docker archive", "dunnage": ds, "podman": ps,
                "ratio": ds["median_s"] / ps["median_s"]}
    finally:
        for p in kept:
            p.close()
        shutil.rmtree(work, ignore_errors=True)


def minbase_py() -> Path:
    rootfs = CACHE / "minbase-py"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3-minimal", "bookworm", str(rootfs),
                        "http://deb.debian.org/debian"], check=True, capture_output=True)
    return rootfs


class _FsMount:
    """One of the three union file systems over LOWER, with a fresh upper layer."""

    def __init__(self, kind: str, lower: Path, work: Path, args: tuple = ()):
        self.kind, self.mnt, self.proc = kind, work / f"{kind}-mnt", None
        up, wd = work / f"{kind}-upper", work / f"{kind}-work"
        for d in (self.mnt, up, wd):
            d.mkdir(parents=True)
        if kind == "kernel":
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={lower},upperdir={up},workdir={wd}", str(self.mnt)], check=True)
        elif kind == "fuse-overlayfs":
            subprocess.run(["fuse-overlayfs", "-o", f"lowerdir={lower},upperdir={up},workdir={wd}", str(self.mnt)],
                           check=True, capture_output=True)
        elif kind == "passthrough_hp":
            # libfuse's example/passthrough_hp.cc (its threads, splice, the writeback cache) over a
            # kernel overlayfs mount: FUSE's transport alone, the union the kernel's
            self.below = work / f"{kind}-overlay"
            self.below.mkdir()
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={lower},upperdir={up},workdir={wd}", str(self.below)], check=True)
            self.proc = subprocess.Popen([os.environ["DUNNAGE_BENCH_PASSTHROUGH_HP"], "--foreground",
                                          str(self.below), str(self.mnt)], stdout=subprocess.DEVNULL)
            from dunnage.fuse.mount import wait_mounted
            if not wait_mounted(str(self.mnt), 20):
                raise SystemExit("passthrough_hp did not mount")
        else:
            # DUNNAGE_BENCH_FUSE_ARGS: the server's options to measure (--writeback-cache off)
            self.proc = subprocess.Popen([sys.executable, "-m", "dunnage.fuse", "--lower", str(lower),
                                          *os.environ.get("DUNNAGE_BENCH_FUSE_ARGS", "").split(), *args,
                                          "--upper", str(up), str(self.mnt)])
            from dunnage.fuse.mount import wait_mounted
            if not wait_mounted(str(self.mnt), 20):
                raise SystemExit("dunnage.fuse did not mount")

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
        if self.proc:
            self.proc.wait(20)
        if getattr(self, "below", None):
            subprocess.run(["umount", "-l", str(self.below)], capture_output=True)


def _drop_caches() -> None:
    subprocess.run(["sync"])
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


SMALL_FILES = """
import os, sys
d = sys.argv[1]
os.mkdir(d)
names = [os.path.join(d, f"f{i}") for i in range(10000)]
for n in names:
    with open(n, "wb") as f:
        f.write(b"x" * 100)
for n in names:
    os.unlink(n)
os.rmdir(d)
"""


def bench_fs_walk(runs: int) -> dict:
    """bench_fs without the big file and the small files: the three walks and python3
    alone, so that more runs fit (this host's disk makes single cold runs vary by 2x)."""
    return bench_fs(runs, walk_only=True)


def bench_fs(runs: int, walk_only: bool = False) -> dict:
    """find + tar of a whole Debian minbase root through each union file system,
    cold and warm caches, and python3 started through the mount."""
    lower = minbase_py()
    kinds = ["kernel", "fuse-overlayfs", "dunnage"]
    ops = ("cold", "warm", "python") + (() if walk_only else ("write 1GiB", "read 1GiB", "10k small files"))
    res: dict = {k: {op: [] for op in ops} for k in kinds}
    walk = "find {m} > /dev/null && tar cf - -C {m} . | cat > /dev/null"
    for _ in range(runs):
        for kind in kinds:
            work = Path(tempfile.mkdtemp(prefix="dunnage-fsb-"))
            m = _FsMount(kind, lower, work)
            try:
                _drop_caches()
                res[kind]["cold"].append(timed(["sh", "-c", walk.format(m=m.mnt)]))
                res[kind]["warm"].append(timed(["sh", "-c", walk.format(m=m.mnt)]))
                for _ in range(5):
                    res[kind]["python"].append(timed(["chroot", str(m.mnt), "/usr/bin/python3", "-c", "pass"]))
                if walk_only:
                    continue
                big = m.mnt / "big"  # written to the upper layer, fsynced so it reaches the disk
                res[kind]["write 1GiB"].append(timed(["dd", "if=/dev/zero", f"of={big}", "bs=1M", "count=1024",
                                                      "conv=fsync", "status=none"]))
                _drop_caches()
                res[kind]["read 1GiB"].append(timed(["dd", f"if={big}", "of=/dev/null", "bs=1M", "status=none"]))
                big.unlink()
                res[kind]["10k small files"].append(timed([sys.executable, "-c", SMALL_FILES, str(m.mnt / "small")]))
            finally:
                m.close()
                shutil.rmtree(work, ignore_errors=True)
    out = {"name": "fs-walk" if walk_only else "fs",
           "what": "find + tar c of a Debian minbase through the union fs; python3 -c pass through it"
           + ("" if walk_only else "; dd of 1 GiB into the upper layer (fsync) and back (cold); "
              "10,000 files of 100 bytes created then deleted")}
    for kind in kinds:
        for op in ops:
            out[f"{kind} {op}"] = summary(res[kind][op])
    for op in ops:
        k = out[f"kernel {op}"]["median_s"]
        out[f"ratio {op}: dunnage/kernel"] = out[f"dunnage {op}"]["median_s"] / k
        out[f"ratio {op}: fuse-overlayfs/kernel"] = out[f"fuse-overlayfs {op}"]["median_s"] / k
        out[f"ratio {op}: dunnage/fuse-overlayfs"] = out[f"dunnage {op}"]["median_s"] / out[f"fuse-overlayfs {op}"]["median_s"]
    out["ratio"] = out["ratio warm: dunnage/fuse-overlayfs"]
    return out


def minbase_python3() -> Path:
    """A Debian minbase with the whole of python3 (its stdlib: json, asyncio, email, http)."""
    rootfs = CACHE / "minbase-python3"
    if not (rootfs / "usr" / "lib" / "python3.11" / "asyncio").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = CACHE / "minbase-python3.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3", "bookworm", str(tmp),
                        "http://deb.debian.org/debian"], check=True, capture_output=True)
        tmp.rename(rootfs)
    return rootfs


APPEND_OPEN = """
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
line = b"127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] \\"GET / HTTP/1.1\\" 200 612 \\"-\\" \\"ab/2.3\\"\\n"
for _ in range(20000):
    os.write(fd, line)
os.close(fd)
"""
APPEND_CLOSE = 'i=0; while [ $i -lt 5000 ]; do echo "line $i of a log written as a shell does" >> "$1"; i=$((i+1)); done'
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _real_work(m: Path, res: dict, run_id: int, postgres: bool = True) -> None:
    """The work of issue 18 on mount M, each timed into RES."""
    def t(op: str, cmd: list[str], cold: bool = False) -> None:
        settled()
        if cold:
            _drop_caches()
        res[op].append(timed(cmd))
    t("small writes", ["dd", "if=/dev/zero", f"of={m}/small", "bs=100", "count=20000", "status=none"])
    t("log appends (open once)", [sys.executable, "-c", APPEND_OPEN, f"{m}/var/log/access.log"])
    t("log appends (echo >>)", ["sh", "-c", APPEND_CLOSE, "sh", f"{m}/var/log/app.log"])
    t("tar c usr (cold)", ["sh", "-c", f"tar -C {m} -cf - usr | cat > /dev/null"], cold=True)
    t("tar c usr (warm)", ["sh", "-c", f"tar -C {m} -cf - usr | cat > /dev/null"])
    t("cp -a stdlib", ["cp", "-a", f"{m}/usr/lib/python3.11", f"{m}/tmp/stdlib"])
    t("dd 256M fsync", ["dd", "if=/dev/zero", f"of={m}/big", "bs=1M", "count=256", "conv=fsync", "status=none"])
    imports = ["chroot", str(m), "/usr/bin/python3", "-c", "import json, asyncio, email, http.client"]
    t("python3 imports (cold)", imports, cold=True)
    t("python3 imports (warm)", imports)
    if postgres and (PG_BIN / "initdb").exists():
        pg, sock = m / "pgdata", Path(tempfile.mkdtemp(prefix="dunnage-fsb-pg-"))
        os.chmod(sock, 0o777)
        as_pg = ["runuser", "-u", "postgres", "--"]
        os.mkdir(pg, 0o700)
        shutil.chown(pg, "postgres", "postgres")
        try:
            t("initdb", as_pg + [str(PG_BIN / "initdb"), "-D", str(pg), "-A", "trust", "-U", "postgres"])
            subprocess.run(as_pg + [str(PG_BIN / "pg_ctl"), "-D", str(pg), "-w", "-l", str(sock / "log"), "-o",
                                    f"-k {sock} -c listen_addresses=''", "start"], check=True, capture_output=True)
            try:
                t("pgbench -i", as_pg + ["pgbench", "-q", "-h", str(sock), "-i", "-s", "5", "postgres"])
            finally:
                subprocess.run(as_pg + [str(PG_BIN / "pg_ctl"), "-D", str(pg), "-w", "-m", "fast", "stop"],
                               capture_output=True)
        finally:
            shutil.rmtree(sock, ignore_errors=True)


# dunnage.fuse's modes fs-real measures beside its default (passthrough where the kernel has it)
FS_REAL_MODES = {"dunnage no_open": ("--passthrough", "off", "--open-requests", "off")}


def bench_fs_real(runs: int) -> dict:
    """Issue 18's real work on a container's root, through kernel overlayfs (what docker's
    overlay2 is: the same driver) and dunnage.fuse over the same lower tree, in its default
    mode and FS_REAL_MODES, alternated."""
    lower = minbase_python3()
    kinds = ["kernel", "dunnage", *FS_REAL_MODES, "fuse-overlayfs"]
    if os.environ.get("DUNNAGE_BENCH_PASSTHROUGH_HP"):
        kinds.append("passthrough_hp")
    res: dict = {k: {} for k in kinds}
    for i in range(runs):
        for kind in kinds:
            work = Path(tempfile.mkdtemp(prefix="dunnage-fsb-"))
            os.chmod(work, 0o755)  # postgres reaches its data through it
            m = _FsMount(kind.split()[0], lower, work, FS_REAL_MODES.get(kind, ()))
            try:
                from collections import defaultdict
                r = defaultdict(list)
                _real_work(m.mnt, r, i, postgres=kind != "passthrough_hp")
                for op, xs in r.items():
                    res[kind].setdefault(op, []).extend(xs)
            finally:
                m.close()
                shutil.rmtree(work, ignore_errors=True)
    out = {"name": "fs-real", "what": "issue 18's work on a union root (Debian minbase + python3): dunnage.fuse "
           "against kernel overlayfs (docker's overlay2 driver)"}
    for op in res["kernel"]:
        for kind in kinds:
            if res[kind].get(op):
                out[f"{kind} {op}"] = summary(res[kind][op])
        for kind in kinds[1:]:
            if res[kind].get(op):
                out[f"ratio {op}: {kind}/kernel"] = out[f"{kind} {op}"]["median_s"] / out[f"kernel {op}"]["median_s"]
    return out


NET_SERVER = ("mkdir -p /dev/shm/www; echo ok > /dev/shm/www/index.html; "
              "(while :; do nc -l -p 5001 > /dev/null; done) & exec httpd -f -p 80 -h /dev/shm/www")


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _throughput(addr: str, port: int, size: int) -> float:
    """Seconds to push SIZE bytes through one TCP connection to a sink."""
    import socket
    chunk = b"x" * (1 << 20)
    end = time.monotonic() + 10
    while True:  # the sink restarts nc between connections
        try:
            s = socket.create_connection((addr, port), timeout=10)
            break
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.01)
    with s:
        t = time.perf_counter()
        sent = 0
        while sent < size:
            s.sendall(chunk)
            sent += len(chunk)
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536):
            pass
        return time.perf_counter() - t


def _connections(addr: str, port: int, n: int) -> float:
    """Seconds for N sequential HTTP requests, one connection each."""
    import socket
    t = time.perf_counter()
    for _ in range(n):
        with socket.create_connection((addr, port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            while s.recv(65536):
                pass
    return time.perf_counter() - t


def _wait_http(addr: str, port: int) -> None:
    end = time.monotonic() + 20
    while True:
        try:
            _connections(addr, port, 1)
            return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def bench_net(runs: int) -> dict:
    """TCP through a published port against straight to the container, and against podman's."""
    from dunnage.core.images.demo import busybox_rootfs_tar
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    size, conns = 256 << 20, 300
    res: dict = {"name": "net", "what": f"TCP: {size >> 20} MiB through one connection; {conns} HTTP "
                 "connections one after another (busybox nc sink, busybox httpd)"}
    droot = work / "dunnage"
    d = DUNNAGE + ["--root", str(droot)]
    podman = Podman()
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        subprocess.run(d + ["import", str(tarball), "local/busybox"], check=True, capture_output=True)
        dp_sink, dp_web = _free_port(), _free_port()
        subprocess.run(d + ["run", "-d", "--name", "srv", "-p", f"{dp_sink}:5001", "-p", f"{dp_web}:80",
                            "local/busybox", "sh", "-c", NET_SERVER], check=True, capture_output=True)
        ip = json.loads(subprocess.run(d + ["inspect", "srv"], capture_output=True, check=True).stdout)[0][
            "NetworkSettings"]["IPAddress"]
        sides = {"dunnage published": ("127.0.0.1", dp_sink, dp_web), "dunnage direct": (ip, 5001, 80)}
        r = podman("import", str(tarball), "localhost/busybox")
        if r.returncode != 0:
            raise SystemExit(f"podman import failed: {r.stderr.decode()}")
        pp_sink, pp_web = _free_port(), _free_port()
        r = podman("run", "-d", "--name", "srv", "-p", f"{pp_sink}:5001", "-p", f"{pp_web}:80",
                   *[x for x in Podman.RUN if x not in ("--network", "none")], "localhost/busybox", "sh", "-c",
                   NET_SERVER)
        if r.returncode != 0:
            raise SystemExit(f"podman run -p failed: {r.stderr.decode()}")
        sides["podman published"] = ("127.0.0.1", pp_sink, pp_web)
        for k, (addr, _, web) in sides.items():
            try:
                _wait_http(addr, web)
            except OSError as e:
                raise SystemExit(f"{k}: {addr}:{web} does not answer: {e}") from None
        thr = {k: [] for k in sides}
        con = {k: [] for k in sides}
        for _ in range(runs):
            for k, (addr, sink, web) in sides.items():  # alternated, side by side
                thr[k].append(_throughput(addr, sink, size))
                con[k].append(_connections(addr, web, conns))
        for k in sides:
            res[f"{k} throughput"] = summary(thr[k])
            res[f"{k} connections"] = summary(con[k])
            res[f"{k} MiB/s"] = (size >> 20) / statistics.median(thr[k])
            res[f"{k} conn/s"] = conns / statistics.median(con[k])
        res["ratio published/direct throughput"] = res["dunnage published MiB/s"] / res["dunnage direct MiB/s"]
        res["ratio published/direct conn/s"] = res["dunnage published conn/s"] / res["dunnage direct conn/s"]
        res["ratio dunnage/podman throughput"] = res["dunnage published MiB/s"] / res["podman published MiB/s"]
        res["ratio dunnage/podman conn/s"] = res["dunnage published conn/s"] / res["podman published conn/s"]
        return res
    finally:
        podman.close()
        subprocess.run(d + ["rm", "-f", "srv"], capture_output=True)
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        Networks(Store(str(droot))).destroy_all()
        shutil.rmtree(work, ignore_errors=True)


def _pss_kib(pid: int, fields: tuple = ("Pss:",)) -> int:
    """A process's PSS in KiB (or the sum of other smaps_rollup fields)."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(fields):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total


USS = ("Private_Clean:", "Private_Dirty:")  # pages no other process maps


def _uss_kib(pid: int) -> int:
    """What the process alone holds: unlike PSS, it does not move with what else the host runs (30 idle
    Pythons elsewhere take 0.2 MiB off each shim's PSS, their share of libpython's pages)."""
    return _pss_kib(pid, USS)


def _procs_named(*names: str) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/comm") as f:
                    if f.read().strip() in names:
                        out.append(int(p))
            except OSError:
                pass
    return out


def _of_root(pids: list[int], root: Path) -> list[int]:
    """Those of PIDS holding a descriptor of something under ROOT (a shim its container's files,
    the fork server its socket): this root's, not another one's running on the same host."""
    out = []
    for p in pids:
        try:
            if any(os.readlink(f"/proc/{p}/fd/{fd}").startswith(str(root)) for fd in os.listdir(f"/proc/{p}/fd")):
                out.append(p)
        except OSError:
            pass
    return out


def bench_mem(runs: int) -> dict:
    """PSS of what each engine keeps per idle container (dunnage: the shim, its FUSE thread with it, and
    the fork server's share, its spare command child too; podman: conmon), with N idle containers each
    (--network none; dunnage's on its default bridge as well), and run -d to running."""
    from dunnage.core.images.demo import busybox_rootfs_tar
    n = max(runs, 10)
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "dunnage"
    d = DUNNAGE + ["--root", str(droot)]
    podman = Podman()
    res: dict = {"name": "mem", "what": f"PSS per idle container ({n} running `sleep`), and `run -d` to running"}
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        subprocess.run(d + ["import", str(tarball), "local/busybox"], check=True, capture_output=True)
        r = podman("import", str(tarball), "localhost/busybox")
        if r.returncode != 0:
            raise SystemExit(f"podman import failed: {r.stderr.decode()}")
        before_d = set(_procs_named("dunnage-shim", "dunnage-forksrv", "dunnage-spare"))
        before_p = set(_procs_named("conmon"))
        dt, pt = [], []
        for i in range(n):
            dt.append(timed(d + ["run", "-d", "--network", "none", "local/busybox", "sleep", "600"]))
            pt.append(timed(podman.cmd + ["run", "-d", *Podman.RUN, "localhost/busybox", "sleep", "600"]))
        time.sleep(1)
        # the root's fork server too (core/forkserver.py): its share is what it costs
        dpids = _of_root([p for p in _procs_named("dunnage-shim", "dunnage-forksrv", "dunnage-spare")
                          if p not in before_d], droot)
        ppids = _of_root([p for p in _procs_named("conmon") if p not in before_p], podman.dir)
        dpss = sum(_pss_kib(p) for p in dpids) / n
        ppss = sum(_pss_kib(p) for p in ppids) / n
        duss = sum(_uss_kib(p) for p in dpids) / n
        puss = sum(_uss_kib(p) for p in ppids) / n
        res.update({"dunnage": summary(dt), "podman": summary(pt), "ratio": statistics.median(dt) / statistics.median(pt),
                    "dunnage PSS per container MiB": dpss / 1024, "podman (conmon) PSS per container MiB": ppss / 1024,
                    "ratio PSS dunnage/podman": dpss / ppss if ppss else float("nan"),
                    "dunnage USS per container MiB": duss / 1024, "podman (conmon) USS per container MiB": puss / 1024})
        # the same on dunnage's default bridge (a shim that set up a network namespace)
        subprocess.run(d + ["rm", "-f", *subprocess.run(d + ["ps", "-aq"], capture_output=True).stdout.decode().split()],
                       capture_output=True)
        for i in range(n):
            subprocess.run(d + ["run", "-d", "local/busybox", "sleep", "600"], check=True, capture_output=True)
        time.sleep(1)
        dpids = _of_root([p for p in _procs_named("dunnage-shim", "dunnage-forksrv", "dunnage-spare")
                          if p not in before_d], droot)
        res["dunnage bridge PSS per container MiB"] = sum(_pss_kib(p) for p in dpids) / n / 1024
        res["dunnage bridge USS per container MiB"] = sum(_uss_kib(p) for p in dpids) / n / 1024
        return res
    finally:
        subprocess.run(d + ["rm", "-f", *subprocess.run(d + ["ps", "-aq"], capture_output=True).stdout.decode().split()],
                       capture_output=True)
        podman.close()
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        Networks(Store(str(droot))).destroy_all()
        shutil.rmtree(work, ignore_errors=True)


def _discard(e, work: Path, podman: "Podman | None" = None) -> None:
    """A benchmark's engine root and podman store, with everything in them, gone."""
    for c in e.containers(all_=True):
        e.remove(c.id, force=True)
    if podman is not None:
        podman.close()
    from dunnage.core.net.config import Networks
    Networks(e.store).destroy_all()
    shutil.rmtree(work, ignore_errors=True)


def bench_sample(runs: int) -> dict:
    """One sampling round over 100 running containers (what the dashboard does each
    second) against `podman stats --no-stream` over 10; then the dashboard's own CPU
    use and memory with 50 running containers, refreshing every second."""
    import asyncio
    import resource
    from dunnage.core import Engine
    from dunnage.core.images.demo import busybox_rootfs_tar
    from dunnage.tui.app import DunnageApp
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "dunnage"
    e = Engine(str(droot))
    podman = Podman()
    res: dict = {"name": "sample", "what": "a sampling round: 100 dunnage containers vs podman stats over 10; "
                 "the dashboard's CPU and memory over 60 s with 50 containers"}
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        e.ensure_demo_image()
        for i in range(100):
            e.run("local/busybox:latest", ["sleep", "3600"], detach=True, network="none", name=f"s{i}")
        podman("import", str(tarball), "localhost/busybox")
        for i in range(10):
            podman("run", "-d", *Podman.RUN, "localhost/busybox", "sleep", "3600")
        rounds = []
        for _ in range(max(runs, 10)):
            t = time.perf_counter()
            for c in e.containers(all_=True):
                e.sample(c)
            rounds.append(time.perf_counter() - t)
        pt = [timed(podman.cmd + ["stats", "--no-stream"]) for _ in range(max(runs, 5))]
        res["dunnage 100 containers"] = summary(rounds)
        res["podman stats 10 containers"] = summary(pt)
        res["ratio dunnage(100)/podman(10)"] = statistics.median(rounds) / statistics.median(pt)
        for c in e.containers(all_=True)[50:]:
            e.remove(c.id, force=True)

        async def switch(app, pilot, key: str) -> float:
            """From a key to the first refresh of the screen it opens (Textual's call_after_refresh
            on it: its first frame drawn), then back.  (The pilot's press and pause wait for the
            process to look idle, which a dashboard sampling 50 containers hardly does: not timed.)"""
            before = app.screen
            painted = asyncio.Event()
            t = time.perf_counter()
            pressing = asyncio.ensure_future(pilot.press(key))
            while app.screen is before:
                await asyncio.sleep(0.001)
            app.screen.call_after_refresh(painted.set)
            await painted.wait()
            dt = time.perf_counter() - t
            await pressing
            while app.screen is not before:
                await pilot.press("escape")
                await pilot.pause(0.01)
            return dt

        async def watch() -> tuple:
            t_start = time.perf_counter()
            app = DunnageApp(e, interval=1.0)
            async with app.run_test(size=(120, 40)) as pilot:
                while app.rounds < 1:
                    await pilot.pause(0.005)
                first = time.perf_counter() - t_start
                while app.rounds < 3:
                    await pilot.pause(0.2)
                views = {name: [await switch(app, pilot, key) for _ in range(5)]
                         for name, key in (("images", "I"), ("volumes", "V"), ("networks", "N"),
                                           ("container page", "enter"), ("logs", "l"))}
                await pilot.pause(2)
                rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                t0, c0 = time.monotonic(), time.process_time()
                await pilot.pause(60)
                cpu = (time.process_time() - c0) / (time.monotonic() - t0)
                rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                await pilot.press("q")
            return first, views, cpu, rss0, rss1
        first, views, cpu, rss0, rss1 = asyncio.run(watch())
        res["dashboard first sampled frame s (50 containers)"] = first
        for name, times in views.items():
            res[f"dashboard view {name}"] = summary(times)
        res["dashboard CPU % of one core (50 containers, 1 s)"] = cpu * 100
        res["dashboard max RSS MiB at start / after 60 s"] = [rss0 / 1024, rss1 / 1024]
        return res
    finally:
        _discard(e, work, podman)


def bench_loop(runs: int) -> dict:
    """100 containers started and removed one after another (on the default bridge,
    a published port each): what is left afterwards, and the time per container."""
    from dunnage.core.images.demo import busybox_rootfs_tar
    sys.path.insert(0, str(HERE.parent / "tests"))
    from conftest import snapshot, leaks  # the tests' own leak check
    n = 100
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "dunnage"
    d = DUNNAGE + ["--root", str(droot)]
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        subprocess.run(d + ["import", str(tarball), "local/busybox"], check=True, capture_output=True)
        subprocess.run(d + ["network", "ls"], check=True, capture_output=True)  # the default bridge, made once
        before = snapshot()
        fds_before = len(os.listdir("/proc/self/fd"))
        times = []
        for i in range(n):
            times.append(timed(d + ["run", "--rm", "-p", "127.0.0.1::80", "local/busybox", "true"]))
        end = time.monotonic() + 10  # shims finish their teardown after the front returns
        while (left := leaks(before, snapshot())) and time.monotonic() < end:
            time.sleep(0.2)
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        nets = Networks(Store(str(droot)))
        endpoints = sum(len(r["Endpoints"]) for r in nets.list())
        from dunnage.core.net.firewall import nft
        elements = sum(len(x["map"].get("elem", [])) for x in nft(f"list map ip {nets.table} tcp_ip", as_json=True)[
            "nftables"] if "map" in x)
        return {"name": "loop", "what": f"{n} x run --rm -p 127.0.0.1::80 busybox true (default bridge)",
                "dunnage": summary(times), "left behind": left, "endpoints left": endpoints,
                "port map elements left": elements,
                "fds of this process before/after": [fds_before, len(os.listdir("/proc/self/fd"))]}
    finally:
        from dunnage.core.net.config import Networks
        from dunnage.core.store import Store
        Networks(Store(str(droot))).destroy_all()
        shutil.rmtree(work, ignore_errors=True)


def bench_logs(runs: int) -> dict:
    """A log of a million lines: `logs` printing it, dunnage against podman's (same image, same
    `seq`); and the dashboard's log view: time until every line is in, time to render one
    screen after a jump, and the memory the lines take."""
    import asyncio
    import resource
    from dunnage.core import Engine
    from dunnage.core.images.demo import busybox_rootfs_tar
    from dunnage.tui.app import DunnageApp, LogsScreen
    n = 1_000_000
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "dunnage"
    e = Engine(str(droot))
    podman = Podman()
    res: dict = {"name": "logs", "what": f"a log of {n:,} lines (seq): `logs` to /dev/null, dunnage vs podman; "
                 "the dashboard's log view over it"}
    try:
        tarball = work / "busybox.tar"
        tarball.write_bytes(busybox_rootfs_tar())
        e.ensure_demo_image()
        c = e.run("local/busybox:latest", ["seq", str(n)], detach=True, network="none", name="million")
        e.wait(c.id, 300)
        podman("import", str(tarball), "localhost/busybox")
        pid = podman("run", "-d", *Podman.RUN, "localhost/busybox", "seq", str(n)).stdout.decode().strip()
        podman("wait", pid)
        d = DUNNAGE + ["--root", str(droot)]
        dl = [timed(d + ["logs", "million"]) for _ in range(runs)]
        pl = [timed(podman.cmd + ["logs", pid]) for _ in range(runs)]
        res["dunnage logs"], res["podman logs"] = summary(dl), summary(pl)
        res["ratio logs: dunnage/podman"] = statistics.median(dl) / statistics.median(pl)

        async def view() -> dict:
            app = DunnageApp(e, interval=1.0)
            async with app.run_test(size=(120, 40)) as pilot:
                while not app.rows:
                    await pilot.pause(0.1)
                rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                t0 = time.perf_counter()
                app.push_screen(LogsScreen(e, c.id, "million"))
                while not (isinstance(app.screen, LogsScreen) and app.screen.query("#log")
                           and len(app.screen.view) == n):
                    await pilot.pause(0.02)
                loaded = time.perf_counter() - t0
                v = app.screen.view
                pages = []
                for y in range(0, n, n // 20):  # jump around: each screen rendered afresh
                    v.scroll_to(y=y, animate=False, immediate=True)
                    t = time.perf_counter()
                    for row in range(v.size.height):
                        v.render_line(row)
                    pages.append(time.perf_counter() - t)
                rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                await pilot.press("q", "q")
            return {"dashboard: all lines in": loaded, "dashboard: one screen rendered after a jump": summary(pages),
                    "dashboard max RSS MiB before / with the log": [rss0 / 1024, rss1 / 1024]}
        res.update(asyncio.run(view()))
        return res
    finally:
        _discard(e, work, podman)


def bench_soak(runs: int) -> dict:
    """The dashboard left open on 50 running containers, refreshing every second, for
    DUNNAGE_SOAK_MINUTES (60): its resident memory and CPU minute by minute (flat is the goal)."""
    import asyncio
    from dunnage.core import Engine
    from dunnage.tui.app import DunnageApp
    minutes = int(os.environ.get("DUNNAGE_SOAK_MINUTES", "60"))
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    e = Engine(str(work / "dunnage"))

    def rss_mib() -> float:
        with open("/proc/self/status") as f:
            return next(int(x.split()[1]) for x in f if x.startswith("VmRSS:")) / 1024
    try:
        e.ensure_demo_image()
        for i in range(50):
            e.run("local/busybox:latest", ["sleep", str(minutes * 60 + 600)], detach=True, network="none", name=f"k{i}")

        async def watch() -> list:
            out = []
            app = DunnageApp(e, interval=1.0)
            async with app.run_test(size=(120, 40)) as pilot:
                while app.rounds < 3:
                    await pilot.pause(0.2)
                for m in range(minutes):
                    c0, t0 = time.process_time(), time.monotonic()
                    await pilot.pause(60)
                    out.append((m + 1, round(rss_mib(), 1),
                                round((time.process_time() - c0) / (time.monotonic() - t0) * 100, 2)))
                await pilot.press("q")
            return out
        per_minute = asyncio.run(watch())
        rss = [r for _, r, _ in per_minute]
        return {"name": "soak", "what": f"the dashboard over 50 running containers for {minutes} min, 1 s refresh",
                "per minute (minute, RSS MiB, CPU % of one core)": per_minute,
                "RSS MiB first minute / last minute": [rss[0], rss[-1]],
                "CPU % median over the minutes": statistics.median(c for _, _, c in per_minute)}
    finally:
        _discard(e, work)


BUILD_DOCKERFILE = """FROM local/busybox:latest AS sums
COPY . /src
RUN cd /src && find . -type f | sort | xargs md5sum > /sums && tar czf /src.tgz -C /src .

FROM local/busybox:latest
COPY --from=sums /sums /src.tgz /out/
"""


def bench_build(runs: int) -> dict:
    stdlib = Path("/usr/lib/python3.11")
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "root"
    dockerd = None
    try:
        ctx = work / "ctx"
        ctx.mkdir()
        subprocess.run(f"tar cf - --exclude=__pycache__ --exclude=dist-packages --exclude=site-packages -C {stdlib} ."
                       f" | tar xf - -C {ctx}", shell=True, check=True)
        (ctx / "Dockerfile").write_text(BUILD_DOCKERFILE)
        files = sum(len(f) for _, _, f in os.walk(ctx))
        size = sum(p.stat().st_size for p in ctx.rglob("*") if p.is_file())
        subprocess.run([sys.executable, "-c", f"from dunnage.core import Engine; Engine({str(droot)!r})"
                        ".ensure_demo_image()"], check=True)
        dockerd = Dockerd()
        save = subprocess.run(DUNNAGE + ["--root", str(droot), "save", "local/busybox:latest"], check=True,
                              capture_output=True).stdout
        dockerd("load", input=save, timeout=120)
        peer = [dockerd.DOCKER, "-H", f"unix://{dockerd.sock}", "build", "-q"]
        env = dict(os.environ, DOCKER_BUILDKIT="1")
        ours = DUNNAGE + ["--root", str(droot), "build", "-q"]

        def bk(*args: str) -> float:
            t = time.perf_counter()
            r = subprocess.run(peer + list(args) + [str(ctx)], env=env, capture_output=True)
            if r.returncode != 0:
                raise SystemExit(f"BuildKit failed: {r.stderr.decode()[-2000:]}")
            return time.perf_counter() - t
        res: dict = {"name": "build", "what": f"two-stage build of Python's stdlib ({size >> 20} MiB in {files} files):"
                                              " cold, one file changed, nothing changed"}
        for case in ("cold", "one file changed", "nothing changed"):
            dt, bt = [], []
            for i in range(runs):
                if case == "one file changed":
                    with open(ctx / "json" / "__init__.py", "a") as f:
                        f.write(f"# {time.time()}\n")
                flags = ["--no-cache"] if case == "cold" else []
                if case == "one file changed":  # both sides have the previous state cached
                    timed(ours + [str(ctx)])
                    bk()
                    with open(ctx / "json" / "__init__.py", "a") as f:
                        f.write(f"# {time.time()}\n")
                settled()
                dt.append(timed(ours + flags + [str(ctx)]))
                settled()
                bt.append(bk(*flags))
            ds, bs = summary(dt), summary(bt)
            res[f"dunnage {case}"], res[f"BuildKit {case}"] = ds, bs
            res[f"ratio {case}"] = ds["median_s"] / bs["median_s"]
        # a lone rebuild, with no fork server up (the runs above follow other commands, as
        # a script's or an edit-build loop's do, and are served by the server one left)
        cold = []
        for i in range(runs):
            settled()
            cold.append(timed(ours + [str(ctx)], env=dict(os.environ, DUNNAGE_FORKSERVER="0")))
        res["dunnage nothing changed, no server"] = summary(cold)
        res["ratio nothing changed, no server"] = res["dunnage nothing changed, no server"]["median_s"] / \
            res["BuildKit nothing changed"]["median_s"]
        return res
    finally:
        if dockerd is not None:
            dockerd.close()
        subprocess.run(DUNNAGE + ["--root", str(droot), "system", "reset", "-f"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


COMPOSE_BENCH = """\
services:
  web:
    image: local/busybox:latest
    command: httpd -f -p 80 -h /www
    init: true
    volumes: [site:/www]
    depends_on:
      db: {condition: service_healthy}
  db:
    image: local/busybox:latest
    command: sh -c 'trap exit TERM; touch /tmp/ready; sleep 300 & wait'
    healthcheck: {test: [CMD, test, -f, /tmp/ready], interval: 100ms, retries: 50}
  cache:
    image: local/busybox:latest
    command: sh -c 'trap exit TERM; sleep 300 & wait'
  worker:
    image: local/busybox:latest
    command: sh -c 'trap exit TERM; sleep 300 & wait'
    environment: {QUEUE: cache}
    depends_on: [cache]
  proxy:
    image: local/busybox:latest
    command: sh -c 'trap exit TERM; sleep 300 & wait'
    ports: ["127.0.0.1::8080"]
    depends_on: [web]
volumes:
  site: {}
"""


def bench_compose(runs: int) -> dict:
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "root"
    dockerd = None
    try:
        proj = work / "proj"
        proj.mkdir()
        (proj / "compose.yaml").write_text(COMPOSE_BENCH)
        subprocess.run([sys.executable, "-c", f"from dunnage.core import Engine; Engine({str(droot)!r})"
                        ".ensure_demo_image()"], check=True)
        dockerd = Dockerd()
        save = subprocess.run(DUNNAGE + ["--root", str(droot), "save", "local/busybox:latest"], check=True,
                              capture_output=True).stdout
        dockerd("load", input=save, timeout=120)
        ours = DUNNAGE + ["--root", str(droot), "compose", "-f", str(proj / "compose.yaml")]
        peer = ["/usr/bin/docker-compose", "-f", str(proj / "compose.yaml")]
        env = dict(os.environ, DOCKER_HOST=f"unix://{dockerd.sock}")

        def v1(*args: str) -> float:
            t = time.perf_counter()
            r = subprocess.run(peer + list(args), env=env, capture_output=True)
            if r.returncode != 0:
                raise SystemExit(f"docker-compose {' '.join(args)} failed: {r.stderr.decode()[-2000:]}")
            return time.perf_counter() - t
        res: dict = {"name": "compose", "what": "up -d and down -v of a five-service project: dunnage compose "
                                                "against docker-compose (v1) on dockerd"}
        times: dict = {k: [] for k in ("dunnage up", "dunnage down", "docker-compose up", "docker-compose down")}
        for _ in range(runs):
            settled()
            times["dunnage up"].append(timed(ours + ["up", "-d"]))
            times["dunnage down"].append(timed(ours + ["down", "-v", "-t", "10"]))
            settled()
            times["docker-compose up"].append(v1("up", "-d"))
            times["docker-compose down"].append(v1("down", "-v", "-t", "10"))
        for k, xs in times.items():
            res[k] = summary(xs)
        for verb in ("up", "down"):
            res[f"ratio {verb}"] = res[f"dunnage {verb}"]["median_s"] / res[f"docker-compose {verb}"]["median_s"]
        return res
    finally:
        if dockerd is not None:
            dockerd.close()
        subprocess.run(DUNNAGE + ["--root", str(droot), "system", "reset", "-f"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def _cpu_ticks(pid: int) -> int:
    """utime + stime of PID (its threads included), in clock ticks; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _procs_under(text: str) -> list[int]:
    """The processes whose command line holds TEXT (a dockerd's containerd and shims by its directory)."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if text.encode() in f.read():
                        out.append(int(p))
            except OSError:
                pass
    return out


API_CONTAINERS, API_STATS, API_STATS_S = 100, 50, 10


def bench_api(runs: int) -> dict:
    """Issue 19's measures: /usr/bin/docker against `dunnage system service` and against a
    dockerd of its own (tests/peers.py: own socket and data root, --iptables=false, its
    own bridge; the runs use --network none on both), the image loaded into dockerd from
    the archive dunnage saves of it: `docker run --rm IMAGE true`, alternated; `docker ps`
    and `docker inspect` of one with 100 running containers; `docker stats` streaming 50
    of them for 10 s a run: the CPU time and resident memory of the service against
    dockerd's (and against dockerd with its containerd and shims, which gather the numbers
    for it)."""
    work = Path(tempfile.mkdtemp(prefix="dunnage-bench-"))
    droot = work / "root"
    sock = work / "docker.sock"
    service = dockerd = None
    try:
        subprocess.run([sys.executable, "-c", f"from dunnage.core import Engine; Engine({str(droot)!r})"
                        ".ensure_demo_image()"], check=True)
        # the service in this process tree, not the fork server's: its CPU and memory are measured
        service = subprocess.Popen(DUNNAGE + ["--root", str(droot), "system", "service", "--time", "0",
                                              f"unix://{sock}"], env=dict(os.environ, DUNNAGE_FORKSERVER="0"),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ours = ["/usr/bin/docker", "-H", f"unix://{sock}"]
        deadline = time.monotonic() + 30
        while subprocess.run(ours + ["version"], capture_output=True).returncode != 0:
            if service.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dunnage system service did not start: {service.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        dockerd = Dockerd()
        peer = ["/usr/bin/docker", "-H", f"unix://{dockerd.sock}"]
        archive = subprocess.run(DUNNAGE + ["--root", str(droot), "save", "local/busybox:latest"], check=True,
                                 capture_output=True).stdout
        r = dockerd("load", input=archive, timeout=120)
        if r.returncode != 0:
            raise SystemExit(f"docker load into dockerd failed: {r.stderr.decode()}")
        res: dict = {"name": "api", "what": "the docker CLI through dunnage's Engine API service against dockerd"}
        run_cmd = ["run", "--rm", "--network", "none", "local/busybox:latest", "true"]
        for _ in range(2):  # warm both up
            timed(ours + run_cmd), timed(peer + run_cmd)
        times: dict = {k: [] for k in ("dunnage run", "dockerd run")}
        for _ in range(max(runs, 3) * 3):
            times["dunnage run"].append(timed(ours + run_cmd))
            times["dockerd run"].append(timed(peer + run_cmd))

        names = [f"api-bench-{i}" for i in range(API_CONTAINERS)]
        for side in (ours, peer):
            for n in names:
                timed(side + ["run", "-d", "--network", "none", "--name", n, "local/busybox:latest", "sleep", "3600"])
        times.update({k: [] for k in ("dunnage ps", "dockerd ps", "dunnage inspect", "dockerd inspect")})
        for _ in range(max(runs, 3) * 3):
            times["dunnage ps"].append(timed(ours + ["ps"]))
            times["dockerd ps"].append(timed(peer + ["ps"]))
            times["dunnage inspect"].append(timed(ours + ["inspect", names[0]]))
            times["dockerd inspect"].append(timed(peer + ["inspect", names[0]]))
        for k, xs in times.items():
            res[k] = summary(xs)
        for verb in ("run", "ps", "inspect"):
            res[f"ratio {verb}"] = res[f"dunnage {verb}"]["median_s"] / res[f"dockerd {verb}"]["median_s"]

        tick = os.sysconf("SC_CLK_TCK")
        stats: dict = {k: [] for k in ("service", "dockerd", "dockerd+containerd+shims")}
        rss: dict = {k: [] for k in stats}
        for _ in range(runs):
            for side, pids in ((ours, lambda: {"service": [service.pid]}),
                               (peer, lambda: {"dockerd": [dockerd.proc.pid],
                                               "dockerd+containerd+shims": _procs_under(str(dockerd.dir))})):
                p = subprocess.Popen(side + ["stats", *names[:API_STATS]], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                try:
                    time.sleep(3)  # its first samples in: the steady stream is measured
                    groups = pids()
                    before = {k: sum(_cpu_ticks(x) for x in v) for k, v in groups.items()}
                    time.sleep(API_STATS_S)
                    groups = pids()
                    for k, v in groups.items():
                        stats[k].append((sum(_cpu_ticks(x) for x in v) - before[k]) / tick / API_STATS_S)
                        rss[k].append(sum(_rss_kib(x) for x in v) / 1024)
                finally:
                    p.terminate()
                    p.wait(30)
        for k in stats:
            res[f"stats CPU {k} (CPU-s/s)"] = statistics.median(stats[k])
            res[f"stats RSS {k} MiB"] = statistics.median(rss[k])
        res["ratio stats CPU"] = res["stats CPU service (CPU-s/s)"] / res["stats CPU dockerd (CPU-s/s)"]
        res["ratio stats CPU with containerd"] = (res["stats CPU service (CPU-s/s)"] /
                                                  res["stats CPU dockerd+containerd+shims (CPU-s/s)"])
        res["ratio stats RSS"] = res["stats RSS service MiB"] / res["stats RSS dockerd MiB"]
        res["ratio stats RSS with containerd"] = (res["stats RSS service MiB"] /
                                                  res["stats RSS dockerd+containerd+shims MiB"])
        return res
    finally:
        if dockerd is not None:
            dockerd.close()
        if service is not None:
            service.terminate()
            try:
                service.wait(30)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait()
            service.stderr.close()
        subprocess.run(DUNNAGE + ["--root", str(droot), "system", "reset", "-f"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


BENCHES = {"start": bench_start, "runtime": bench_runtime, "pull": bench_pull, "load": bench_load, "fs": bench_fs, "fs-walk": bench_fs_walk,
           "fs-real": bench_fs_real,
           "net": bench_net, "mem": bench_mem, "sample": bench_sample, "loop": bench_loop, "logs": bench_logs, "soak": bench_soak,
           "build": bench_build, "compose": bench_compose}

BENCHES["api"] = bench_api  # issue 19


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=None, help="runs per side (start: 20, pull/load: 3)")
    ap.add_argument("--only", choices=sorted(BENCHES), action="append")
    a = ap.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    # bytecode as an installed wheel has it: timings are of running, not of compiling
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", *(str(HERE.parent / d) for d in
                    ("core", "fuse", "tui"))], capture_output=True)
    # soak takes an hour, fs-walk repeats part of fs, fs-real needs postgres: ask for them
    for name in a.only or sorted(k for k in BENCHES if k not in ("soak", "fs-walk", "fs-real")):
        res = BENCHES[name](a.runs or {"start": 20, "fs": 2, "fs-walk": 8, "fs-real": 3}.get(name, 3))
        res["host"] = {"cpus": os.cpu_count(), "kernel": os.uname().release}
        (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2))
        print(f"{name}: {res['what']}")
        for k, v in res.items():
            if isinstance(v, dict) and "median_s" in v:
                print(f"  {k:<26} median {v['median_s'] * 1000:.0f} ms (p10 {v['p10_s'] * 1000:.0f}, "
                      f"p90 {v['p90_s'] * 1000:.0f}, {v['runs']} runs)")
        if "dunnage" in res and "ratio" in res:
            peer = next(k for k, v in res.items() if isinstance(v, dict) and "median_s" in v and k != "dunnage")
            print(f"  ratio dunnage/{peer}: {res['ratio']:.2f}")
        if "ratio_to_floor" in res:
            print(f"  ratio dunnage/floor: {res['ratio_to_floor']:.2f}")
        for k in ("left behind", "endpoints left", "port map elements left", "fds of this process before/after"):
            if k in res:
                print(f"  {k}: {res[k]}")
        for k, v in res.items():
            if (k.startswith(("ratio ", "dashboard")) or k.endswith(("MiB/s", "conn/s", "MiB"))) and \
                    isinstance(v, (float, list)):
                print(f"  {k}: " + (f"{v:.2f}" if isinstance(v, float) else " / ".join(f"{x:.1f}" for x in v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
