"""dunnage's benchmarks, each side by side with its peer in the same run.

    scripts/dev.sh bench [--runs N] [--only start]

start: `dunnage run --rm local/busybox true` against
       `podman --runtime runc run --rm --network none ... true` of the same
       tarball (podman import), alternated run by run; wall time of the whole
       command, median and spread, reported as the ratio dunnage / podman.
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
DUNNAGE = [sys.executable, "-m", "dunnage.tui.cli"]


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"benchmark command failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr.decode()}")
    return dt


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
        podman = shutil.which("podman")
        if not podman:
            raise SystemExit("podman is not installed (scripts/dev.sh installs it)")
        p = [podman, "--root", str(work / "podman"), "--runroot", str(work / "podman-run"), "--runtime", "runc"]
        subprocess.run(p + ["import", str(tarball), "localhost/busybox"], check=True, capture_output=True)
        dcmd = d + ["run", "--rm", "local/busybox", "true"]
        pcmd = p + ["run", "--rm", "--network", "none", "--ulimit", "nofile=1024:1024",
                    "--ulimit", "nproc=1024:1024", "localhost/busybox", "true"]
        for _ in range(2):  # warm both up
            timed(dcmd), timed(pcmd)
        dt, pt = [], []
        for _ in range(runs):
            dt.append(timed(dcmd))
            pt.append(timed(pcmd))
        ds, ps = summary(dt), summary(pt)
        return {"name": "start", "what": "run --rm busybox true, whole command",
                "dunnage": ds, "podman": ps, "ratio": ds["median_s"] / ps["median_s"]}
    finally:
        subprocess.run(p + ["rm", "-af"], capture_output=True) if "p" in dir() else None
        subprocess.run(["umount", "-R", "-l", str(work / "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


BENCHES = {"start": bench_start}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--only", choices=sorted(BENCHES), action="append")
    a = ap.parse_args()
    out_dir = HERE / "results"
    out_dir.mkdir(exist_ok=True)
    for name in a.only or sorted(BENCHES):
        res = BENCHES[name](a.runs)
        res["host"] = {"cpus": os.cpu_count(), "kernel": os.uname().release}
        (out_dir / f"{name}.json").write_text(json.dumps(res, indent=2))
        peer = next(k for k in res if k not in ("name", "what", "dunnage", "ratio", "host"))
        print(f"{name}: {res['what']}")
        print(f"  dunnage median {res['dunnage']['median_s'] * 1000:.0f} ms "
              f"(p10 {res['dunnage']['p10_s'] * 1000:.0f}, p90 {res['dunnage']['p90_s'] * 1000:.0f})")
        print(f"  {peer:<7} median {res[peer]['median_s'] * 1000:.0f} ms "
              f"(p10 {res[peer]['p10_s'] * 1000:.0f}, p90 {res[peer]['p90_s'] * 1000:.0f})")
        print(f"  ratio dunnage/{peer}: {res['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
