"""The demo: the busybox image and three containers whose panels move."""
from __future__ import annotations

from dunnage.core import ContainerSpec, Engine, EngineError

DEMO = [  # name, create's flags, command
    ("demo-idle", {}, ["sh", "-c", "while true; do date; sleep 5; done"]),
    ("demo-cpu", {"cpus": "0.5"}, ["sh", "-c", "while :; do :; done"]),
    # grows by 2 MiB a second in /dev/shm (tmpfs, charged to the cgroup) up to 48 MiB, then starts over
    ("demo-mem", {"memory": "64m"}, ["sh", "-c",
     "while true; do i=0; while [ $i -lt 24 ]; do dd if=/dev/zero of=/dev/shm/f$i bs=1M count=2 2>/dev/null; "
     "i=$((i+1)); echo grown to $((i*2)) MiB; sleep 1; done; rm -f /dev/shm/f*; done"]),
]


def setup_demo(e: Engine, quiet: bool = True) -> list[str]:
    from dunnage.core.images.demo import DEMO_IMAGE
    e.ensure_demo_image()
    names = []
    for name, flags, cmd in DEMO:
        c = None
        try:
            c = e.container(name)
        except EngineError:
            pass
        if c is None:
            c = e.create_from(ContainerSpec.from_flags(DEMO_IMAGE, cmd, name=name, detach=True, **flags))
        if not c.running():
            e.start(c.id)
        names.append(name)
        if not quiet:
            print(f"{name}: running")
    return names
