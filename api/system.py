"""System endpoints: /_ping, /version, /info (/build is api/build.py's)."""
from __future__ import annotations

from .version import API_VERSION, MIN_API_VERSION
from .responses import Response


def ping(req):
    return Response(200, b"OK", {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache, no-store, must-revalidate",
                                 "Pragma": "no-cache"})


def version(req):
    from dunnage.core.system import version as engine_version
    v = engine_version()
    return {"Platform": {"Name": "dunnage"},
            "Components": [{"Name": "Engine", "Version": v["Version"],
                            "Details": {"ApiVersion": API_VERSION, "Arch": v["Arch"], "BuildTime": "",
                                        "Experimental": "false", "GitCommit": "", "GoVersion": v["GoVersion"],
                                        "KernelVersion": v["KernelVersion"], "MinAPIVersion": MIN_API_VERSION,
                                        "Os": "linux"}}],
            "Version": v["Version"], "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "", "GoVersion": v["GoVersion"], "Os": "linux", "Arch": v["Arch"],
            "KernelVersion": v["KernelVersion"], "BuildTime": ""}


def info(req):
    return req.engine().info()


def register(r) -> None:
    r.add("GET", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", info)
