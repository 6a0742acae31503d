"""The read-only verbs: state, list, ps, features."""
from __future__ import annotations

from dunnage.core.cgroups import open_cgroup_path
from dunnage.core.runtime.bundle import HOOKS, NAMESPACE_TYPES
from dunnage.core.runtime.capabilities import CAPS

from . import state


def state_of(root: str, cid: str) -> dict:
    st = state.load(root, cid)
    return st.oci(state.status(root, st))


def listing(root: str) -> list[dict]:
    out = []
    for cid in state.all_ids(root):
        try:
            out.append(state_of(root, cid))
        except Exception:  # noqa: BLE001 - one being deleted meanwhile
            continue
    return out


def table(rows: list[dict]) -> str:
    lines = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
    for r in rows:
        lines.append((r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], "root"))
    widths = [max(len(x[i]) for x in lines) for i in range(6)]
    return "".join("   ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() + "\n" for line in lines)


def pids(root: str, cid: str) -> list[int]:
    st = state.load(root, cid)
    return open_cgroup_path(st.cgroups_path).procs()


def features() -> dict:
    """runtime-spec's features document: what this runtime understands."""
    from dunnage.core.runtime.rootfs import _CLEAR, _FLAGS, _PROPAGATION
    return {
        "ociVersionMin": "1.0.0", "ociVersionMax": state.SPEC_VERSION,
        "hooks": list(HOOKS),
        "mountOptions": sorted(["bind", "rbind", *_FLAGS, *_CLEAR, *_PROPAGATION]),
        "linux": {
            "namespaces": [n for n in NAMESPACE_TYPES if n != "time"],
            "capabilities": [f"CAP_{c}" for c in CAPS],
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                                     "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                                     "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"]},
            "apparmor": {"enabled": False}, "selinux": {"enabled": False},
            "intelRdt": {"enabled": False},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "dunnage-runtime",
                        "io.github.dunnage.version": "0.1.0"},
    }
