"""OCI hooks: programs run with the container's state on their standard input."""
from __future__ import annotations

import json
import subprocess

from dunnage.core.errors import System


def run(hooks: dict, which: str, state: dict, fatal: bool = True) -> list[str]:
    """Run the hooks named WHICH (prestart, createRuntime, ..., poststop) in order.  A hook
    that fails or times out is an error when FATAL, else a warning (returned)."""
    warnings = []
    for h in hooks.get(which) or []:
        argv = list(h.get("args") or [h["path"]])
        env = dict(e.split("=", 1) for e in h.get("env") or [] if "=" in e)
        try:
            p = subprocess.run(argv, executable=h["path"], input=json.dumps(state).encode(), env=env,
                               capture_output=True, timeout=h.get("timeout") or None)
            failed = p.returncode != 0 and f"exit status {p.returncode}: {p.stderr.decode(errors='replace').strip()}"
        except subprocess.TimeoutExpired:
            failed = f"timed out after {h.get('timeout')} s"
        except OSError as e:
            failed = str(e)
        if failed:
            msg = f"{which} hook {h['path']}: {failed}"
            if fatal:
                raise System(msg)
            warnings.append(msg)
    return warnings
