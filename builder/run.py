"""RUN: a container made from the state, run to its end through dunnage's own runtime on
the union filesystem, and its upper directory (already an OCI diff) made the next layer.

Docker's RUN: the shell form through the image's SHELL (`/bin/sh -c`), the environment of
the image's config with the build args in scope that ENV does not set, USER, WORKDIR
(made if missing), the default bridge unless --network says otherwise, no volumes and no
health check.  Whatever happens (a failed command, ctrl-c), the container goes with its
mount, cgroup and network, and the carrier image it was made from."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Callable, Iterable, Optional

from dunnage.core.errors import DunnageError, System
from dunnage.core.spec import ContainerConfig, ContainerSpec, HostConfig, mount_flags

from . import layers


class RunFailed(System):
    """A RUN's command ended with PROCESS_CODE (the build's exit code is 1, as BuildKit's; the
    classic builder's API stream carries the command's own)."""

    def __init__(self, message: str, process_code: int):
        super().__init__(message, 1)
        self.process_code = process_code


def run_step(engine, config: dict, argv: list[str], env: list[str], network: Optional[str],
             keep: Callable[[], Iterable[str]], epoch: Optional[int], output: Callable[[str, bytes], None],
             tmpdir: Path, mounts=None, started: Optional[Callable[[str], None]] = None) -> Optional[tuple]:
    """Run ARGV on CONFIG's state; returns the layer tar of its changes, its diff id and
    its tree (TarWriter.tree), or None when it changed nothing.  A non-zero exit raises
    RunFailed.  MOUNTS: RUN --mount's (builder/mounts.py), whose new mount points are
    left out of the layer."""
    from .mounts import Mounts, scrub
    mounts = mounts or Mounts()
    inner = config.get("config") or {}
    car = layers.Carrier(engine, config, runtime=True)
    c = None
    try:
        car.add()
        spec = ContainerSpec(
            ContainerConfig(image=car.id, cmd=list(argv), entrypoint=[], env=list(env), user=inner.get("User") or None,
                            working_dir=inner.get("WorkingDir") or "", attach=False),
            HostConfig(network_mode=network or None, mounts=mount_flags(None, mounts.flags, None)), detach=True,
            build=True)
        c = engine.create_from(spec)
        if started is not None:
            started(c.id)
        engine.start(c.id)
        for _t, stream, data in engine.logs(c.id, follow=True):
            output(stream, data)
        code = engine.wait(c.id)
        if code != 0:
            raise RunFailed(f'process "{" ".join(argv)}" did not complete successfully: exit code: {code}', code)
        tar = None
        upper = str(engine.container(c.id).upper)
        scrub(upper, mounts.created)
        path = Path(tempfile.mkstemp(prefix="layer-", suffix=".tar", dir=tmpdir)[1])
        tw = layers.TarWriter(path, epoch, mirror=path.with_name(path.name + ".tree"))
        try:
            layers.tar_tree(tw, upper)
            diff_id = tw.close()
        except BaseException:
            tw.abort()
            raise
        if tw.count:
            tar = (tw.path, diff_id, tw.tree())
        else:
            tw.abort()
        return tar
    finally:
        if c is not None:
            try:
                engine.remove(c.id, force=True)
            except DunnageError:
                pass
        car.remove(lambda: set(keep()) | set(layers.chains(config)))
