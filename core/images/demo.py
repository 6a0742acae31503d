"""The offline demo image: the host's static busybox with its applet links."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import time

DEMO_IMAGE = "local/busybox:latest"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox() -> str:
    for p in BUSYBOX_CANDIDATES:
        if os.path.exists(p):
            out = subprocess.run(["file", "-L", p], capture_output=True, text=True).stdout if shutil.which("file") else ""
            if "dynamically" not in out:
                return p
    raise FileNotFoundError("a static busybox is needed for the demo image (apt-get install busybox-static)")


def busybox_rootfs_tar(busybox: str | None = None) -> bytes:
    """A root filesystem tarball: /bin/busybox, a link per applet, /etc basics."""
    busybox = busybox or find_busybox()
    applets = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True).stdout.split()
    now = int(time.time())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        def add_dir(name: str, mode: int = 0o755) -> None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, mode, now
            tf.addfile(ti)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), mode, now
            tf.addfile(ti, io.BytesIO(data))

        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "root", "var", "home"):
            add_dir(d, 0o700 if d == "root" else 0o755)
        add_dir("tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        for a in applets:
            a = a.lstrip("/")
            if a == "bin/busybox":
                continue
            ti = tarfile.TarInfo(a)
            ti.type, ti.linkname, ti.mode, ti.mtime = tarfile.LNKTYPE, "bin/busybox", 0o755, now
            tf.addfile(ti)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n")
        add_file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        add_file("etc/hostname", b"busybox\n")
        add_file("etc/hosts", b"127.0.0.1\tlocalhost\n")
    return buf.getvalue()
