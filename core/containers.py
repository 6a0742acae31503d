"""Container records: config (what the user asked for) and state (what happened)."""
from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .store import Store, StoreError, read_record, write_record

_ADJ = ("admiring", "bold", "brave", "busy", "calm", "clever", "eager", "focused", "gallant", "happy",
        "jolly", "keen", "lucid", "modest", "nifty", "quirky", "serene", "sharp", "stoic", "vibrant")
_NAMES = ("archimedes", "babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "knuth",
          "lovelace", "noether", "pascal", "ritchie", "shannon", "tesla", "turing", "wozniak", "yalow")


def new_id() -> str:
    return os.urandom(32).hex()


def random_name() -> str:
    return f"{random.choice(_ADJ)}_{random.choice(_NAMES)}"


def _stat_fields(pid: int) -> Optional[list[bytes]]:
    """/proc/PID/stat after the command name: state is [0], start time [19]."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data.rpartition(b")")[2].split()


def proc_start_time(pid: int) -> Optional[int]:
    """Start time of PID in clock ticks (field 22 of /proc/PID/stat): tells a reused pid apart."""
    f = _stat_fields(pid)
    return int(f[19]) if f else None


def pid_alive(pid: Optional[int], start_time: Optional[int]) -> bool:
    if not pid:
        return False
    f = _stat_fields(pid)
    if not f:
        return False
    if start_time is not None and int(f[19]) != start_time:
        return False
    return f[0] != b"Z"


def wait_exit(pid: Optional[int], start_time: Optional[int], timeout: float) -> bool:
    """Wait up to TIMEOUT for PID (not our child) to exit, waking the moment it does
    (pidfd).  True if it is gone."""
    if not pid_alive(pid, start_time):
        return True
    import select
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return not pid_alive(pid, start_time)
    try:
        if not pid_alive(pid, start_time):  # the pid may have been reused before we opened it
            return True
        r, _, _ = select.select([fd], [], [], timeout)
        return bool(r)
    finally:
        os.close(fd)


@dataclass
class Container:
    store: Store
    id: str
    config: dict
    state: dict

    @property
    def dir(self) -> Path:
        return self.store.container_dir(self.id)

    @property
    def name(self) -> str:
        return self.config["Name"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def status(self) -> str:
        return self.state.get("Status", "created")

    def reload(self) -> "Container":
        self.config = read_record(self.dir / "config.msgpack")
        self.state = read_state(self.dir / "state.msgpack")
        return self

    def refresh(self) -> "Container":
        """reload() for watching (a stats stream each second): the state read afresh, the
        config from the listing's shared cache (unpacked again only once its file
        changed), never to be changed and saved.  FileNotFoundError once it is removed."""
        d = str(self.dir)
        self.state = read_state(os.path.join(d, "state.msgpack"))
        self.config = _shared_config(os.path.join(d, "config.msgpack"))
        return self

    def save_state(self, **changes) -> None:
        """Update state fields under the container's lock (read-modify-write)."""
        with self.store.lock(f"c-{self.id[:16]}"):
            cur = read_state(self.dir / "state.msgpack") if (self.dir / "state.msgpack").exists() else {}
            cur.update(changes)
            write_record(self.dir / "state.msgpack", cur, durable=False)  # a moment's state: store.py
            self.state = cur

    def save_config(self) -> None:
        write_record(self.dir / "config.msgpack", self.config)

    # runtime paths
    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def merged(self) -> Path:
        return self.dir / "merged"

    @property
    def log_path(self) -> Path:
        return self.dir / "log"

    def running(self) -> bool:
        return self.status in ("running", "paused") and pid_alive(self.state.get("Pid"), self.state.get("PidStart"))

    def shim_alive(self) -> bool:
        return pid_alive(self.state.get("ShimPid"), self.state.get("ShimStart"))

    def wait_shim(self, timeout: float) -> bool:
        """Wait (without polling) until the shim exits; True if it has."""
        return wait_exit(self.state.get("ShimPid"), self.state.get("ShimStart"), timeout)


def read_state(path) -> dict:
    """A container's state record.  It is written without fsync (store.py): after a power
    loss on a file system that does not order a rename after the data, it can be found
    empty.  Such a container is shown as exited with the reason, not lost."""
    try:
        return read_record(path)
    except (ValueError, StoreError):
        return {"Status": "exited", "ExitCode": 255, "Pid": 0, "ShimPid": 0,
                "Error": "the container's state was lost (a crash while it was written)"}


def load(store: Store, cid: str) -> Container:
    d = store.container_dir(cid)
    return Container(store, cid, read_record(d / "config.msgpack"), read_state(d / "state.msgpack"))


_SHARED_CONFIGS: dict[str, tuple[tuple, dict]] = {}


def _shared_config(path: str) -> dict:
    """A config record, unpacked once while the file stays the same (a config holds the
    seccomp profile: unpacking it was half of listing a hundred containers). The file is
    only ever replaced whole (a new inode); one written within the last second is read
    again, so a coarse timestamp can never hide a change."""
    st = os.stat(path)
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    hit = _SHARED_CONFIGS.get(path)
    if hit is not None and hit[0] == key and time.time_ns() - st.st_mtime_ns > 1_000_000_000:
        return hit[1]
    cfg = read_record(path)
    _SHARED_CONFIGS[path] = (key, cfg)
    return cfg


def _shared_configs(store: Store) -> list[tuple[str, str, dict]]:
    """(id, directory, config) of every container, the configs shared (_shared_config)."""
    out = []
    seen = set()
    with os.scandir(store.containers) as it:
        for d in it:
            cfg_path = os.path.join(d.path, "config.msgpack")
            try:
                cfg = _shared_config(cfg_path)
            except Exception:  # noqa: BLE001 - a record being made or removed right now
                continue
            seen.add(cfg_path)
            out.append((d.name, d.path, cfg))
    # (list() copies at once: the API service's threads list and look up names together)
    for gone in [p for p in list(_SHARED_CONFIGS) if p not in seen and p.startswith(str(store.containers))]:
        _SHARED_CONFIGS.pop(gone, None)
    return out


def all_containers(store: Store, shared: bool = False) -> list[Container]:
    """Every container. With SHARED, configs come from a cache and are shared between
    calls: for listing only (ps, the dashboard), never to change and save."""
    out = []
    if shared:
        for cid, path, cfg in _shared_configs(store):
            try:
                out.append(Container(store, cid, cfg, read_state(os.path.join(path, "state.msgpack"))))
            except Exception:  # noqa: BLE001 - a record being removed right now
                continue
    else:
        with os.scandir(store.containers) as it:
            for d in it:
                try:
                    cfg = read_record(os.path.join(d.path, "config.msgpack"))
                    out.append(Container(store, d.name, cfg, read_state(os.path.join(d.path, "state.msgpack"))))
                except Exception:  # noqa: BLE001 - a record being made or removed right now
                    continue
    out.sort(key=lambda c: c.config.get("Created", ""), reverse=True)
    return out


_NAMED: dict[tuple[str, str], str] = {}  # (containers directory, name) -> id, as last found


def find(store: Store, ref: str) -> Optional[Container]:
    """By full id, name (with or without a leading /) or unique id prefix."""
    ref = ref.lstrip("/")
    if not ref:
        return None
    d = store.container_dir(ref)
    if len(ref) == 64 and d.exists():
        try:
            return load(store, ref)
        except FileNotFoundError:
            return None
    # a name found before: the container it named, if its record still says so (a name
    # is one container's at a time, and beats an id prefix)
    key = (str(store.containers), ref)
    cid = _NAMED.get(key)
    if cid is not None:
        try:
            c = load(store, cid)
            if c.name == ref:
                return c
        except (OSError, ValueError, StoreError):
            pass
        _NAMED.pop(key, None)
    # names from the shared configs, then the one found read afresh: a name looked up
    # read every container's two records (inspect by name of one of a hundred: 10 ms)
    named = sorted(_shared_configs(store), key=lambda x: x[2].get("Created", ""), reverse=True)
    hit = next((cid for cid, _, cfg in named if cfg.get("Name") == ref), None)
    if hit is not None:
        if len(_NAMED) > 4096:
            _NAMED.clear()
        _NAMED[key] = hit
    else:
        hits = [cid for cid, _, _ in named if cid.startswith(ref)]
        if len(hits) != 1:
            return None
        hit = hits[0]
    try:
        return load(store, hit)
    except FileNotFoundError:
        return None


def create_dirs(c: Container) -> None:
    os.makedirs(c.upper, exist_ok=True)
    os.makedirs(c.merged, exist_ok=True)
