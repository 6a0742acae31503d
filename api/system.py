"""System endpoints: /_ping, /version, /info (/build is api/build.py's)."""
from __future__ import annotations

import os
import platform

from .version import API_VERSION, MIN_API_VERSION
from .responses import Response


def ping(req):
    return Response(200, b"OK", {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache, no-store, must-revalidate",
                                 "Pragma": "no-cache"})


def version(req):
    from importlib.metadata import PackageNotFoundError, version as pkg_version
    try:
        v = pkg_version("dunnage")
    except PackageNotFoundError:
        v = "0.1.0"
    u = os.uname()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(u.machine, u.machine)
    return {"Platform": {"Name": "dunnage"},
            "Components": [{"Name": "Engine", "Version": v,
                            "Details": {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux", "Arch": arch, "KernelVersion": u.release}}],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
            "GoVersion": "python" + platform.python_version(), "Os": "linux", "Arch": arch,
            "KernelVersion": u.release, "BuildTime": ""}


def info(req):
    return req.engine().info()


def register(r) -> None:
    r.add("GET", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
