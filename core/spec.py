"""The create request: docker's Config + HostConfig + NetworkingConfig, typed.

Every front makes containers the same way: it builds a ContainerSpec (the command
line and the dashboard from flags, with `ContainerSpec.from_flags`; the Engine API
from the body of POST /containers/create, with `ContainerSpec.from_docker`) and
hands it to the create verb (core/lifecycle/create.py), which calls `validate()`
once, before anything is written.  As podman's pkg/specgen: the flags' grammars
turn text into typed values here, with docker's messages; `validate()` checks the
values, whichever front they came from; what depends on the engine's state (the
name in use, the image, the network, the --volumes-from container) is the create
verb's.

The fields are grouped as docker's API groups them, and named after its JSON keys
(`to_docker()` writes them back)."""
from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import signal as _signal
import stat as _stat
from dataclasses import dataclass, field
from typing import Optional

from .errors import Conflict, InvalidParameter
from .units import UnitError

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MIN_MEMORY = 6 * 1024 * 1024  # docker's minimum
MAX_ID = (1 << 31) - 1
RESTART_NAMES = ("no", "always", "unless-stopped", "on-failure")
NAMESPACE_MODES = (("--pid", "pid_mode", ("", "host")), ("--ipc", "ipc_mode", ("", "private", "host")),
                   ("--uts", "uts_mode", ("", "host")))
LOG_DRIVERS = ("", "local", "json-file", "dunnage-msgpack")  # all mean dunnage's own bounded log
_HOSTNAME = re.compile(r"(([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])")
_USER = re.compile(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?")


# ---------------------------------------------------------------- the spec
@dataclass
class Healthcheck:
    """Config.Healthcheck: TEST None keeps the image's command; durations in ns."""
    test: Optional[list[str]] = None
    interval: Optional[int] = None
    timeout: Optional[int] = None
    start_period: Optional[int] = None
    retries: Optional[int] = None

    def record(self) -> dict:
        """As docker's JSON has it, the unset durations left out (the image's stay)."""
        out: dict = {"Test": self.test}
        for key, v in (("Interval", self.interval), ("Timeout", self.timeout), ("StartPeriod", self.start_period),
                       ("Retries", self.retries)):
            if v is not None:
                out[key] = v
        return out


@dataclass
class ContainerConfig:
    """docker's Config (the name is create's query parameter, kept on the spec)."""
    image: str
    cmd: Optional[list[str]] = None  # None: the image's
    entrypoint: Optional[list[str]] = None  # None: the image's; []: none
    env: list[str] = field(default_factory=list)  # as the user gave them ("VAR" alone: this environment's)
    hostname: str = ""
    user: Optional[str] = None  # None: the image's
    working_dir: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    tty: bool = False
    open_stdin: bool = False
    attach: Optional[bool] = None  # None: attached unless detached (docker run), as AttachStdout says
    stop_signal: Optional[str] = None
    stop_timeout: Optional[int] = None
    healthcheck: Optional[Healthcheck] = None  # None: the image's
    exposed_ports: list[str] = field(default_factory=list)  # "80/tcp"


@dataclass
class Resources:
    """HostConfig's resources: bytes, nano-CPUs, the blkio devices as {"Path", "Major", "Minor", "Rate"}."""
    memory: int = 0
    memory_swap: Optional[int] = None
    memory_reservation: int = 0  # the soft limit the kernel reclaims down to under pressure
    nano_cpus: int = 0
    cpu_shares: Optional[int] = None
    cpuset_cpus: Optional[str] = None
    blkio_weight: Optional[int] = None
    device_read_bps: list[dict] = field(default_factory=list)
    device_write_bps: list[dict] = field(default_factory=list)
    pids_limit: Optional[int] = None
    ulimits: list[dict] = field(default_factory=list)  # {"Name", "Soft", "Hard"}


@dataclass
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    def text(self) -> str:
        return f"{self.name}:{self.maximum_retry_count}" if self.maximum_retry_count else self.name


@dataclass
class LogConfig:
    """HostConfig.LogConfig: Config holds the --log-opt options as given."""
    type: str = ""
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class Mount:
    """One of the container's mounts, as core/volumes.py's grammars make it (the record the
    shim mounts); FLAG is the -v or --tmpfs text it came from, which docker's inspect shows
    as a Bind or a Tmpfs entry ("" for --mount)."""
    record: dict
    flag: str = ""
    origin: str = "mount"  # "volume" (-v), "mount" (--mount), "tmpfs" (--tmpfs)


@dataclass
class HostConfig:
    auto_remove: bool = False
    resources: Resources = field(default_factory=Resources)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    log_config: LogConfig = field(default_factory=LogConfig)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    init: bool = False
    pid_mode: Optional[str] = None
    ipc_mode: Optional[str] = None
    uts_mode: Optional[str] = None
    network_mode: Optional[str] = None  # None: docker's "default"
    port_bindings: list[dict] = field(default_factory=list)  # core/net/ports.py's bindings
    publish_all_ports: bool = False
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    volumes_from: list[str] = field(default_factory=list)

    def mode(self) -> str:
        """The network mode, "default" spelt "bridge"."""
        m = self.network_mode or "bridge"
        return "bridge" if m == "default" else m


@dataclass
class NetworkingConfig:
    """The endpoint in the network of NetworkMode (the one network a container joins at create)."""
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str = ""
    ipv6_address: str = ""  # (on a dual-stack network)


@dataclass
class ContainerSpec:
    """One create request.  DETACH (dunnage's own) says the front does not wait on the
    container: a container run in the foreground with -i/-t waits for its attach."""
    config: ContainerConfig
    host: HostConfig = field(default_factory=HostConfig)
    networking: NetworkingConfig = field(default_factory=NetworkingConfig)
    name: Optional[str] = None
    detach: bool = False
    build: bool = False  # a build's RUN (builder/run.py): BuildKit's hostname, the image's own /etc/hostname

    @classmethod
    def from_flags(cls, image: str, command: list[str] | None = None, **flags) -> "ContainerSpec":
        """From run/create's flags, keyword-named as Engine.create takes them."""
        return _from_flags(image, command, flags)

    @classmethod
    def from_docker(cls, body: dict, name: Optional[str] = None) -> "ContainerSpec":
        """From the body of the Engine API's POST /containers/create (Config with HostConfig
        and NetworkingConfig in it) and its ?name=."""
        return _from_docker(body, name)

    def to_docker(self) -> dict:
        """The body of POST /containers/create for this spec (the name aside)."""
        return _to_docker(self)

    def validate(self) -> None:
        """Check every value (EngineError, docker's message, 125): what the engine's state
        does not decide.  The create verb calls it once, before anything is written."""
        _validate(self)


# ------------------------------------------------------------ the grammars
_FLAGS = frozenset((
    "name", "env", "memory", "cpus", "pids_limit", "hostname", "auto_remove", "detach", "workdir", "entrypoint",
    "cap_add", "cap_drop", "privileged", "security_opt", "user", "group_add", "read_only", "ulimits", "labels",
    "stop_signal", "stop_timeout", "tty", "interactive", "restart", "health", "no_healthcheck", "log_opts",
    "pid_mode", "ipc_mode", "uts_mode", "network", "publish", "publish_all", "expose", "ip", "ip6", "network_aliases",
    "dns", "dns_search", "dns_options", "add_hosts", "volumes", "mounts", "tmpfs", "volumes_from", "init",
    "memory_swap", "cpu_shares", "cpuset_cpus", "blkio_weight", "device_read_bps", "device_write_bps", "attach",
    "memory_reservation"))


def _from_flags(image: str, command: list[str] | None, kw: dict) -> ContainerSpec:
    unknown = set(kw) - _FLAGS
    if unknown:
        raise TypeError(f"create() got an unexpected keyword argument {sorted(unknown)[0]!r}")
    entrypoint = kw.get("entrypoint")
    cfg = ContainerConfig(
        image=image, cmd=list(command) if command else None,
        entrypoint=None if entrypoint is None else ([entrypoint] if entrypoint else []),
        env=list(kw.get("env") or []), hostname=kw.get("hostname") or "", user=kw.get("user"),
        working_dir=kw.get("workdir") or "", labels=labels(kw.get("labels")), tty=bool(kw.get("tty")),
        open_stdin=bool(kw.get("interactive")), attach=kw.get("attach"), stop_signal=kw.get("stop_signal"),
        stop_timeout=kw.get("stop_timeout"),
        healthcheck=health_flags(kw.get("health"), bool(kw.get("no_healthcheck"))),
        exposed_ports=[p for s in kw.get("expose") or [] for p in _parse_expose(s)])
    host = HostConfig(
        auto_remove=bool(kw.get("auto_remove")), resources=_resources_of(kw),
        restart_policy=restart_policy(kw.get("restart")), log_config=log_opts(kw.get("log_opts")),
        cap_add=list(kw.get("cap_add") or []), cap_drop=list(kw.get("cap_drop") or []),
        privileged=bool(kw.get("privileged")), readonly_rootfs=bool(kw.get("read_only")),
        security_opt=list(kw.get("security_opt") or []), group_add=list(kw.get("group_add") or []),
        init=bool(kw.get("init")), pid_mode=kw.get("pid_mode"), ipc_mode=kw.get("ipc_mode"),
        uts_mode=kw.get("uts_mode"), network_mode=kw.get("network"),
        port_bindings=[b for s in kw.get("publish") or [] for b in _parse_publish(s)],
        publish_all_ports=bool(kw.get("publish_all")), dns=list(kw.get("dns") or []),
        dns_search=list(kw.get("dns_search") or []), dns_options=list(kw.get("dns_options") or []),
        extra_hosts=list(kw.get("add_hosts") or []),
        mounts=mount_flags(kw.get("volumes"), kw.get("mounts"), kw.get("tmpfs")),
        volumes_from=list(kw.get("volumes_from") or []))
    name = kw.get("name")
    return ContainerSpec(cfg, host, NetworkingConfig(list(kw.get("network_aliases") or []), kw.get("ip") or "", kw.get("ip6") or ""),
                         name=None if name is None else name.lstrip("/"), detach=bool(kw.get("detach")))


def _parse_publish(s: str) -> list[dict]:
    from .net.ports import parse_publish
    return parse_publish(s)


def _parse_expose(s: str) -> list[str]:
    from .net.ports import parse_expose
    return parse_expose(s)


def _resources_of(kw: dict) -> Resources:
    r = Resources()
    if kw.get("memory") is not None:
        r.memory = parse_size_checked(kw["memory"])
    if kw.get("cpus") is not None:
        r.nano_cpus = parse_cpus_checked(kw["cpus"])
    if kw.get("pids_limit") is not None:
        r.pids_limit = int(kw["pids_limit"])
    if kw.get("memory_swap") is not None:
        r.memory_swap = _memory_swap(kw["memory_swap"])
    if kw.get("memory_reservation") is not None:
        r.memory_reservation = parse_memory_reservation(kw["memory_reservation"])
    r.cpu_shares = None if kw.get("cpu_shares") is None else int(kw["cpu_shares"])
    r.cpuset_cpus = kw.get("cpuset_cpus")
    r.blkio_weight = None if kw.get("blkio_weight") is None else int(kw["blkio_weight"])
    r.device_read_bps = _device_rates("--device-read-bps", kw.get("device_read_bps"))
    r.device_write_bps = _device_rates("--device-write-bps", kw.get("device_write_bps"))
    r.ulimits = [parse_ulimit(u) for u in kw.get("ulimits") or []]
    return r


def _memory_swap(v) -> int:
    if str(v) == "-1":
        return -1
    from .units import parse_size
    try:
        return parse_size(v)
    except UnitError as e:
        raise InvalidParameter(f"invalid --memory-swap: {e}") from None


def parse_memory_reservation(v) -> int:
    from .units import parse_size
    try:
        return parse_size(v)
    except UnitError as e:
        raise InvalidParameter(f"invalid --memory-reservation: {e}") from None


def _device_rates(flag: str, items) -> list[dict]:
    """--device-read/write-bps DEVICE:RATE, the device a block device of this host."""
    from .units import parse_size
    devs = []
    for item in items or []:
        path, sep, rate = item.rpartition(":")
        try:
            st = os.stat(path) if sep else None
            if st is None or not _stat.S_ISBLK(st.st_mode):
                raise ValueError(f"{path or item} is not a block device")
            bps = parse_size(rate)
            if bps <= 0:
                raise ValueError("the rate must be positive")
        except (OSError, ValueError) as e:
            raise InvalidParameter(f'invalid {flag} "{item}" (DEVICE:RATE, e.g. /dev/sda:1mb): {e}') from None
        devs.append({"Path": path, "Major": os.major(st.st_rdev), "Minor": os.minor(st.st_rdev), "Rate": bps})
    return devs


def restart_policy(text: Optional[str]) -> RestartPolicy:
    """--restart no|always|unless-stopped|on-failure[:N]."""
    if not text:
        return RestartPolicy()
    pname, _, count = text.partition(":")
    if pname not in RESTART_NAMES or (count and (pname != "on-failure" or not count.isdigit())):
        raise InvalidParameter(f"invalid restart policy: {text} (no, always, unless-stopped, on-failure[:N])")
    return RestartPolicy(pname, int(count or 0))


def log_opts(opts) -> LogConfig:
    """--log-opt KEY=VALUE; the values are checked by validate()."""
    out = LogConfig()
    for o in opts or []:
        k, sep, v = o.partition("=")
        if not sep:
            raise InvalidParameter(f'invalid --log-opt: "{o}" (max-size=10m, max-file=3)')
        out.config[k] = v
    return out


def health_flags(health: Optional[dict], none: bool = False) -> Optional[Healthcheck]:
    """--no-healthcheck, or the --health-* flags ({"cmd", "interval", "timeout",
    "start_period", "retries"}, None where not given) over the image's HEALTHCHECK."""
    if none:
        return Healthcheck(test=["NONE"])
    if not health:
        return None
    from .units import parse_duration
    h = Healthcheck(test=["CMD-SHELL", health["cmd"]] if health.get("cmd") else None)
    for attr in ("interval", "timeout", "start_period"):
        if health.get(attr) is not None:
            setattr(h, attr, parse_duration(health[attr]))
    if health.get("retries") is not None:
        h.retries = int(health["retries"])
    return h


def mount_flags(volumes, mounts, tmpfs) -> list[Mount]:
    """-v, --mount and --tmpfs, in that order (core/volumes.py's grammars)."""
    from .volumes import parse_mount_flag, parse_tmpfs_flag, parse_volume_flag
    return ([Mount(parse_volume_flag(v), v, "volume") for v in volumes or []]
            + [Mount(parse_mount_flag(m), "", "mount") for m in mounts or []]
            + [Mount(parse_tmpfs_flag(t), t, "tmpfs") for t in tmpfs or []])


def parse_ulimit(s: str) -> dict:
    """--ulimit name=soft[:hard], checked against what this host lets us set."""
    from .runtime.process import ULIMITS
    name, sep, val = s.partition("=")
    if not sep or name not in ULIMITS:
        raise InvalidParameter(f'invalid ulimit argument: "{s}" (name=soft[:hard], names: {", ".join(sorted(ULIMITS))})')
    soft_s, colon, hard_s = val.partition(":")
    try:  # as go-units: -1 and infinity are unlimited (RLIM_INFINITY)
        soft = -1 if soft_s == "infinity" else int(soft_s)
        hard = soft if not colon else -1 if hard_s == "infinity" else int(hard_s)
    except ValueError:
        raise InvalidParameter(f'invalid ulimit argument: "{s}"') from None
    out = {"Name": name, "Soft": soft, "Hard": hard}
    check_ulimit(out)
    return out


def check_ulimit(u: dict) -> None:
    import resource
    from .runtime.process import ULIMITS, rlimit
    name, soft, hard = u.get("Name"), u.get("Soft"), u.get("Hard")
    if name not in ULIMITS or not isinstance(soft, int) or not isinstance(hard, int):
        raise InvalidParameter(f'invalid ulimit argument: "{name}={soft}:{hard}"')
    if hard != -1 and soft == -1:
        raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard limit: soft: -1 (unlimited), hard: {hard}")
    if hard != -1 and soft > hard:
        raise InvalidParameter(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    _, host_hard = resource.getrlimit(rlimit(name))
    if host_hard != resource.RLIM_INFINITY and (hard == -1 or hard > host_hard):
        raise InvalidParameter(f"ulimit {name}: hard limit {'unlimited' if hard == -1 else hard} is above this host's {host_hard} "
                          "(raising it needs CAP_SYS_RESOURCE)")


def labels(items: list[str] | None) -> dict:
    """--label k=v (of containers, networks, volumes) -> {k: v}."""
    out = {}
    for x in items or []:
        k, _, v = x.partition("=")
        if not k:
            raise InvalidParameter(f'invalid label: "{x}"')
        out[k] = v
    return out


def valid_hostname(name: str) -> bool:
    """docker's check (RFC 1123, at most 63 bytes): the name goes into /etc/hosts
    and /etc/hostname, where a newline or a space would add lines or names."""
    return len(name) <= 63 and _HOSTNAME.fullmatch(name) is not None


def valid_name(n: str) -> bool:
    return bool(re.fullmatch(r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+", n))


def _int64_flag(flag: str, v) -> int:
    """An integer flag's value as docker's int64 flags take it."""
    v = int(v)
    if not -(1 << 63) <= v < 1 << 63:
        raise InvalidParameter(f'invalid argument "{v}" for "{flag}" flag: strconv.ParseInt: parsing "{v}": '
                          "value out of range")
    return v


def check_user(user: str) -> None:
    """Numeric uids and gids of -u as runc takes them, so that a bad one is refused
    here and not by the container's init."""
    for part in user.split(":", 1):
        if part.isdigit() and int(part) > MAX_ID:
            raise InvalidParameter(f"invalid user {user!r}: uids and gids must be in range 0-{MAX_ID}")


def parse_size_checked_log(s: str) -> int:
    from .units import parse_size
    v = parse_size(s)
    if v <= 0:
        raise UnitError("max-size must be positive")
    return v


def _check_memory(v: int) -> int:
    if 0 < v < MIN_MEMORY:
        raise UnitError("Minimum memory limit allowed is 6MB")
    return v


def _check_cpus(v: int) -> int:
    n = os.cpu_count() or 1
    if v > n * 10**9 or (0 < v < 10**7):
        raise UnitError(f"range of CPUs is from 0.01 to {n:.2f}, as there are only {n} CPUs available")
    return v


def parse_size_checked(s: str) -> int:
    from .units import parse_size
    return _check_memory(parse_size(s))


def parse_cpus_checked(s: str) -> int:
    from .units import parse_cpus
    return _check_cpus(parse_cpus(s))


def _online_cpus() -> set[int]:
    try:
        with open("/sys/devices/system/cpu/online") as f:
            return _cpu_list(f.read().strip())
    except OSError:
        return set(range(os.cpu_count() or 1))


def _cpu_list(text: str) -> set[int]:
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out


def resource_flags(memory: int, memory_swap, cpu_shares, cpuset_cpus, blkio_weight, read_bps, write_bps) -> dict:
    """--memory-swap, --cpu-shares, --cpuset-cpus, --blkio-weight, --device-read/write-bps,
    parsed and checked: HostConfig's keys (for update, which changes a few of them)."""
    r = Resources(memory=memory, memory_swap=None if memory_swap is None else _memory_swap(memory_swap),
                  cpu_shares=None if cpu_shares is None else int(cpu_shares), cpuset_cpus=cpuset_cpus,
                  blkio_weight=None if blkio_weight is None else int(blkio_weight),
                  device_read_bps=_device_rates("--device-read-bps", read_bps),
                  device_write_bps=_device_rates("--device-write-bps", write_bps))
    _check_resources(r)
    return _resource_record(r)


def _resource_record(r: Resources) -> dict:
    out: dict = {}
    for key, v in (("MemorySwap", r.memory_swap), ("CpuShares", r.cpu_shares), ("CpusetCpus", r.cpuset_cpus),
                   ("BlkioWeight", r.blkio_weight), ("MemoryReservation", r.memory_reservation or None)):
        if v is not None:
            out[key] = v
    if r.device_read_bps:
        out["BlkioDeviceReadBps"] = list(r.device_read_bps)
    if r.device_write_bps:
        out["BlkioDeviceWriteBps"] = list(r.device_write_bps)
    return out


# ------------------------------------------------------------- validation
def _check_resources(r: Resources) -> None:
    _check_memory(r.memory)
    _check_cpus(r.nano_cpus)
    if r.pids_limit is not None:
        _int64_flag("--pids-limit", r.pids_limit)
    if r.memory_swap is not None and r.memory_swap != -1:
        if not r.memory:
            raise InvalidParameter("You should always set the Memory limit when using Memoryswap limit, see usage")
        if r.memory_swap < r.memory:
            raise InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    check_memory_reservation(r.memory, r.memory_reservation)
    if r.cpu_shares is not None and not 2 <= r.cpu_shares <= 262144:
        raise InvalidParameter(f"invalid --cpu-shares {r.cpu_shares}: between 2 and 262144")
    if r.cpuset_cpus is not None:
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", r.cpuset_cpus):
            raise InvalidParameter(f'invalid --cpuset-cpus "{r.cpuset_cpus}" (e.g. 0-1 or 0,2)')
        want, have = _cpu_list(r.cpuset_cpus), _online_cpus()
        if not want <= have:
            raise InvalidParameter(f"Requested CPUs are not available - requested {r.cpuset_cpus}, available: "
                              f"{min(have)}-{max(have)}")
    if r.blkio_weight is not None and not 10 <= r.blkio_weight <= 1000:
        raise InvalidParameter(f"invalid --blkio-weight {r.blkio_weight}: between 10 and 1000")
    for u in r.ulimits:
        check_ulimit(u)


def check_memory_reservation(memory: int, reservation: int) -> None:
    """--memory-reservation as dockerd checks it: 6MB at least, and within --memory."""
    if reservation and memory and memory < reservation:
        raise InvalidParameter("Minimum memory limit can not be less than memory reservation limit, see usage")
    if 0 < reservation < MIN_MEMORY:
        raise InvalidParameter("Minimum memory reservation allowed is 6MB")


def _validate(spec: ContainerSpec) -> None:
    cfg, host = spec.config, spec.host
    _check_resources(host.resources)
    if cfg.stop_timeout is not None:
        _int64_flag("--stop-timeout", cfg.stop_timeout)
    from .runtime.capabilities import effective_set
    effective_set(host.cap_add, host.cap_drop, host.privileged)
    rp = host.restart_policy
    if rp.name not in RESTART_NAMES or rp.maximum_retry_count < 0 or (
            rp.maximum_retry_count and rp.name != "on-failure"):
        raise InvalidParameter(f"invalid restart policy: {rp.text()} (no, always, unless-stopped, on-failure[:N])")
    if host.auto_remove and rp.name != "no":
        raise InvalidParameter("conflicting options: cannot specify both --restart and --rm")
    if cfg.stop_signal is not None:
        _check_signal(cfg.stop_signal)
    if cfg.user:
        check_user(cfg.user)
    log_record(host.log_config)
    for flag, attr, allowed in NAMESPACE_MODES:
        val = getattr(host, attr)
        if val is not None and val not in allowed:
            raise InvalidParameter(f'invalid {flag}: "{val}" (one of: {", ".join(a or "empty" for a in allowed)})')
    _validate_network(spec)
    if cfg.hostname and (host.uts_mode == "host" or host.network_mode == "host"):
        raise InvalidParameter("Conflicting options: hostname and the UTS mode (or --network host)")
    if cfg.hostname and not valid_hostname(cfg.hostname):
        raise InvalidParameter(f"invalid hostname format: {cfg.hostname!r}"[:200])
    if cfg.healthcheck and cfg.healthcheck.retries is not None and cfg.healthcheck.retries < 0:
        raise InvalidParameter("--health-retries cannot be negative")
    test = cfg.healthcheck.test if cfg.healthcheck else None
    if test is not None and (not isinstance(test, list) or not all(isinstance(x, str) for x in test)):
        bad = next((x for x in test if not isinstance(x, str)), test) if isinstance(test, list) else test
        raise InvalidParameter(f"json: cannot unmarshal {type(bad).__name__} into Go struct field "
                               "HealthConfig.Healthcheck.Test of type string")
    for k in cfg.labels:
        if not k:
            raise InvalidParameter('invalid label: "="')
    if host.init:
        from .runtime.spec import INIT_BINARY
        if not os.access(INIT_BINARY, os.X_OK):
            raise InvalidParameter(f"--init needs {INIT_BINARY} (Debian: apt-get install tini)")
    if cfg.user is not None and not _USER.fullmatch(cfg.user):
        raise InvalidParameter(f'invalid user: "{cfg.user}"')
    seccomp_option(host.security_opt)
    if spec.name is not None and not valid_name(spec.name):
        raise InvalidParameter(f'Invalid container name ({spec.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
    for e in cfg.env:
        if not e or e.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {e}")
    _validate_mounts(host)


def _check_signal(sig: str) -> None:
    """--stop-signal: KILL, SIGKILL or 9, as kill takes it (a bad one is 125 here, a flag's value)."""
    s = str(sig).upper()
    try:
        n = int(s) if s.isdigit() else int(_signal.Signals[s if s.startswith("SIG") else "SIG" + s])
    except KeyError:
        n = 0
    if n <= 0:
        raise InvalidParameter(f"invalid signal: {sig}")


def log_record(lc: LogConfig) -> dict:
    """The log's bounds (dunnage's record of LogConfig), bounded by default as docker's local driver."""
    from .logs import MAX_FILE, MAX_SIZE
    out = {"Type": "dunnage-msgpack", "MaxSize": MAX_SIZE, "MaxFile": MAX_FILE}
    if lc.type not in LOG_DRIVERS:
        raise InvalidParameter(f'invalid --log-driver: "{lc.type}" (dunnage keeps its own bounded log)')
    for k, v in lc.config.items():
        try:
            if k == "max-size":
                out["MaxSize"] = parse_size_checked_log(v)
            elif k == "max-file" and int(v) >= 1:
                out["MaxFile"] = int(v)
            elif k in ("labels", "env", "labels-regex", "env-regex"):  # (logs --details' attributes)
                if k.endswith("-regex"):
                    re.compile(v)
                out.setdefault("Attrs", {})[k] = v
            else:
                raise ValueError
        except (ValueError, UnitError, re.error):
            raise InvalidParameter(f'invalid --log-opt: "{k}={v}" (max-size=10m, max-file=3, labels=, env=, '
                                   'labels-regex=, env-regex=)') from None
    return out


def seccomp_option(security_opt: list[str]) -> Optional[str]:
    """--security-opt: no-new-privileges[=true|false], seccomp=unconfined|FILE; the seccomp value."""
    out = None
    for o in security_opt:
        key, sep, val = o.replace(":", "=", 1).partition("=")
        if key == "seccomp" and sep and val:
            out = val
        elif key != "no-new-privileges" or val not in ("", "true", "false"):
            raise InvalidParameter(f'invalid --security-opt: "{o}" (supported: no-new-privileges, seccomp=unconfined|FILE)')
    return out


def _validate_network(spec: ContainerSpec) -> None:
    from .net.config import DEFAULT_NETWORK
    from .net.sandbox import mode_kind, network_of
    host, net = spec.host, spec.networking
    mode = host.mode()
    kind = mode_kind(mode)
    if (host.port_bindings or host.publish_all_ports) and kind == "container":
        raise InvalidParameter("conflicting options: port publishing and the container type network mode")
    seen = set()
    for b in bindings_of(host):
        hp = (b["Proto"], b["HostIp"], b["HostPort"])
        if b["HostPort"] and hp in seen:
            raise Conflict(f"Bind for {b['HostIp']}:{b['HostPort']} failed: port is already allocated")
        seen.add(hp)
    if (net.ipv4_address or net.ipv6_address or net.aliases) and not (kind == "bridge"
                                                                      and network_of(mode) != DEFAULT_NETWORK):
        what = "user specified IP address" if net.ipv4_address or net.ipv6_address else "network-scoped alias"
        raise InvalidParameter(f"{what} is supported only for containers in user defined networks")
    for d in host.dns:
        try:
            ipaddress.ip_address(d)
        except ValueError:
            raise InvalidParameter(f"invalid --dns: {d} is not an IP address") from None
    for h in host.extra_hosts:
        name, _, addr = h.partition(":")
        try:
            if not name or any(ch.isspace() or not ch.isprintable() for ch in name):
                raise ValueError  # a newline or a space would add lines or names to /etc/hosts
            ipaddress.ip_address(addr)
        except ValueError:
            raise InvalidParameter(f'invalid --add-host "{h}" (NAME:IP)') from None
    for d in host.dns_search:  # docker's ValidateDNSSearch; each goes into resolv.conf's search line
        if d != "." and (len(d) > 255 or not _HOSTNAME.fullmatch(d.removesuffix("."))):
            raise InvalidParameter(f"invalid argument {d!r} for --dns-search: {d} is not a valid domain")
    for o in host.dns_options:  # docker takes them as they are; a newline would add lines to resolv.conf
        if not o or any(ch.isspace() or not ch.isprintable() for ch in o):
            raise InvalidParameter(f"invalid argument {o!r} for --dns-option")


def bindings_of(host: HostConfig) -> list[dict]:
    """The port bindings that apply: none in the host's or no network (docker discards them)."""
    from .net.sandbox import mode_kind
    return [] if mode_kind(host.mode()) in ("host", "none") else list(host.port_bindings)


def _validate_mounts(host: HostConfig) -> None:
    for ref in host.volumes_from:
        if ref.partition(":")[2] not in ("", "ro", "rw"):
            raise InvalidParameter(f'invalid --volumes-from "{ref}": mode must be ro or rw')
    seen = set()
    for m in host.mounts:
        t = m.record.get("Target") or ""
        if not t.startswith("/") or t == "/":
            raise InvalidParameter(f'invalid mount target "{t}": the container path must be absolute and not /')
        if m.record.get("Type") not in ("bind", "volume", "tmpfs"):
            raise InvalidParameter(f'invalid mount type "{m.record.get("Type")}": bind, volume or tmpfs')
        if t in seen:
            raise InvalidParameter(f"Duplicate mount point: {t}")
        seen.add(t)


# -------------------------------------------------- what create makes of it
def merge_env(base: list[str], extra: list[str]) -> list[str]:
    """The image's environment with the user's over it; "VAR" alone takes this environment's VAR."""
    out: dict[str, str] = {}
    for e in base + extra:
        k, _, v = e.partition("=")
        if "=" not in e:
            v = os.environ.get(k)
            if v is None:
                continue
        out[k] = v
    return [f"{k}={v}" for k, v in out.items()]


def merge_health(image: Optional[dict], flags: Optional[Healthcheck]) -> Optional[dict]:
    """The image's HEALTHCHECK, with the --health-* flags over it."""
    if flags is None:
        return image
    out = dict(image or {})
    out.update({k: v for k, v in flags.record().items() if v is not None})
    return out if out.get("Test") else None


def host_record(host: HostConfig) -> dict:
    """dunnage's record of HostConfig (what the shim, inspect and update read), without
    what the engine's state decides: MemorySwap's default, NetworkMode's network, Mounts."""
    r = host.resources
    hc: dict = {"AutoRemove": host.auto_remove, "Memory": r.memory, "NanoCpus": r.nano_cpus,
                "PidsLimit": r.pids_limit, "NetworkMode": host.mode(),
                "RestartPolicy": {"Name": host.restart_policy.name,
                                  "MaximumRetryCount": host.restart_policy.maximum_retry_count}}
    hc.update(_resource_record(r))
    from .runtime.capabilities import normalize
    hc["CapAdd"] = [normalize(x) for x in host.cap_add] or None
    hc["CapDrop"] = [normalize(x) for x in host.cap_drop] or None
    hc["Privileged"] = host.privileged
    hc["ReadonlyRootfs"] = host.readonly_rootfs
    hc["Ulimits"] = [dict(u) for u in r.ulimits] or None
    hc["LogConfig"] = log_record(host.log_config)
    for _, attr, _ in NAMESPACE_MODES:
        key = {"pid_mode": "PidMode", "ipc_mode": "IpcMode", "uts_mode": "UTSMode"}[attr]
        val = getattr(host, attr)
        hc[key] = val if val is not None else ("private" if key == "IpcMode" else "")
    hc["PortBindings"] = bindings_of(host) or None
    hc["PublishAllPorts"] = host.publish_all_ports and host.mode() not in ("host", "none")
    hc["Dns"] = list(host.dns) or None
    hc["DnsSearch"] = list(host.dns_search) or None
    hc["DnsOptions"] = list(host.dns_options) or None
    hc["ExtraHosts"] = list(host.extra_hosts) or None
    hc["GroupAdd"] = list(host.group_add) or None
    hc["Init"] = host.init
    hc["SecurityOpt"] = list(host.security_opt) or None
    return hc


def exposed_of(spec: ContainerSpec) -> list[str]:
    """--expose's ports and the published ones."""
    from .net.ports import key
    exposed = list(spec.config.exposed_ports)
    return exposed + [key(b) for b in bindings_of(spec.host) if key(b) not in exposed]


def flag_lists(host: HostConfig) -> dict:
    """The -v and --tmpfs texts and --log-opt options, as docker's inspect shows them."""
    return {"volumes": [m.flag for m in host.mounts if m.origin == "volume"],
            "tmpfs": [m.flag for m in host.mounts if m.origin == "tmpfs"],
            "log_opts": [f"{k}={v}" for k, v in host.log_config.config.items()]}


# ------------------------------------------------------- docker's JSON shape
def _from_docker(body: dict, name: Optional[str]) -> ContainerSpec:
    """docker's JSON to a spec; the same grammars read what the API keeps as text (Binds,
    Tmpfs, Ulimits' names), so the messages are the flags'."""
    if not isinstance(body, dict):
        raise InvalidParameter("invalid create request: a JSON object expected")
    hcj = body.get("HostConfig") or {}
    try:
        cfg = _config_from_docker(body)
        host = _host_from_docker(hcj, body)
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise InvalidParameter(f"invalid create request: {e}") from None
    mode = host.network_mode or "default"
    eps = ((body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {})
    ep = eps.get(mode) or (next(iter(eps.values())) if len(eps) == 1 else None) or {}
    ipam = ep.get("IPAMConfig") or {}
    net = NetworkingConfig(list(ep.get("Aliases") or []), ipam.get("IPv4Address") or "", ipam.get("IPv6Address") or "")
    # as docker create: the client attaches before it starts the container, which need not wait
    return ContainerSpec(cfg, host, net, name=None if name is None else name.lstrip("/"), detach=True)


def _config_from_docker(body: dict) -> ContainerConfig:
    hcj = body.get("Healthcheck")
    health = None
    if hcj:
        health = Healthcheck(test=hcj.get("Test") or None, interval=hcj.get("Interval") or None,
                             timeout=hcj.get("Timeout") or None, start_period=hcj.get("StartPeriod") or None,
                             retries=hcj.get("Retries") or None)
    ep = body.get("Entrypoint")
    return ContainerConfig(
        image=str(body.get("Image") or ""), cmd=list(body["Cmd"]) if body.get("Cmd") else None,
        entrypoint=None if ep is None else [] if ep in ("", [""]) else [ep] if isinstance(ep, str) else list(ep),
        env=list(body.get("Env") or []), hostname=body.get("Hostname") or "", user=body.get("User") or None,
        working_dir=body.get("WorkingDir") or "", labels=dict(body.get("Labels") or {}),
        tty=bool(body.get("Tty")), open_stdin=bool(body.get("OpenStdin")),
        attach=bool(body.get("AttachStdout") or body.get("AttachStderr") or body.get("AttachStdin")),
        stop_signal=body.get("StopSignal") or None, stop_timeout=body.get("StopTimeout"),
        healthcheck=health, exposed_ports=[p if "/" in p else f"{p}/tcp" for p in body.get("ExposedPorts") or {}])


def _host_from_docker(hcj: dict, body: dict) -> HostConfig:
    lc = hcj.get("LogConfig") or {}
    rp = hcj.get("RestartPolicy") or {}
    binds = list(hcj.get("Binds") or [])
    # Config.Volumes that a bind, mount or tmpfs already covers make no anonymous volume
    # (docker skips a destination that has a mount point already; docker-compose v1 sends both)
    covered = {posixpath.normpath(b.split(":")[1] if b.count(":") >= 1 else b) for b in binds}
    covered |= {posixpath.normpath(m.get("Target") or "") for m in hcj.get("Mounts") or [] if isinstance(m, dict)}
    covered |= {posixpath.normpath(k) for k in hcj.get("Tmpfs") or {}}
    volumes = binds + [v for v in body.get("Volumes") or {} if posixpath.normpath(v) not in covered]
    tmpfs = [f"{k}:{v}" if v else k for k, v in (hcj.get("Tmpfs") or {}).items()]
    mounts = mount_flags(volumes, [], tmpfs)
    mounts[len(volumes):len(volumes)] = [_mount_from_docker(m) for m in hcj.get("Mounts") or []]
    return HostConfig(
        auto_remove=bool(hcj.get("AutoRemove")), resources=_resources_from_docker(hcj),
        restart_policy=RestartPolicy(rp.get("Name") or "no", int(rp.get("MaximumRetryCount") or 0)),
        log_config=LogConfig(lc.get("Type") or "", {str(k): str(v) for k, v in (lc.get("Config") or {}).items()}),
        cap_add=list(hcj.get("CapAdd") or []), cap_drop=list(hcj.get("CapDrop") or []),
        privileged=bool(hcj.get("Privileged")), readonly_rootfs=bool(hcj.get("ReadonlyRootfs")),
        security_opt=list(hcj.get("SecurityOpt") or []), group_add=list(hcj.get("GroupAdd") or []),
        init=bool(hcj.get("Init")), pid_mode=hcj.get("PidMode") or None, ipc_mode=hcj.get("IpcMode") or None,
        uts_mode=hcj.get("UTSMode") or None, network_mode=hcj.get("NetworkMode") or None,
        port_bindings=_bindings_from_docker(hcj.get("PortBindings") or {}),
        publish_all_ports=bool(hcj.get("PublishAllPorts")), dns=list(hcj.get("Dns") or []),
        dns_search=list(hcj.get("DnsSearch") or []), dns_options=list(hcj.get("DnsOptions") or []),
        extra_hosts=list(hcj.get("ExtraHosts") or []), mounts=mounts,
        volumes_from=list(hcj.get("VolumesFrom") or []))


def _resources_from_docker(hcj: dict) -> Resources:
    def devices(key: str, flag: str) -> list[dict]:
        return _device_rates(flag, [f"{d['Path']}:{d['Rate']}" for d in hcj.get(key) or []])
    swap = hcj.get("MemorySwap")
    return Resources(
        memory=int(hcj.get("Memory") or 0), memory_swap=int(swap) if swap else None,
        memory_reservation=int(hcj.get("MemoryReservation") or 0),
        nano_cpus=int(hcj.get("NanoCpus") or 0), cpu_shares=int(hcj["CpuShares"]) if hcj.get("CpuShares") else None,
        cpuset_cpus=hcj.get("CpusetCpus") or None,
        blkio_weight=int(hcj["BlkioWeight"]) if hcj.get("BlkioWeight") else None,
        device_read_bps=devices("BlkioDeviceReadBps", "--device-read-bps"),
        device_write_bps=devices("BlkioDeviceWriteBps", "--device-write-bps"),
        # docker's CLI sends 0 for no --pids-limit; 0 and -1 are unlimited there
        pids_limit=int(hcj["PidsLimit"]) if hcj.get("PidsLimit") else None,
        ulimits=[{"Name": u["Name"], "Soft": int(u["Soft"]), "Hard": int(u["Hard"])} for u in hcj.get("Ulimits") or []])


def _bindings_from_docker(pb: dict) -> list[dict]:
    """{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} through -p's grammar."""
    specs = []
    for port, hosts in pb.items():
        cport, _, proto = port.partition("/")
        for h in hosts or [{}]:
            ip, hp = (h or {}).get("HostIp") or "", (h or {}).get("HostPort") or ""
            ip = f"[{ip}]" if ":" in ip else ip
            specs.append(f"{ip + ':' if ip else ''}{hp}:{cport}/{proto or 'tcp'}" if ip or hp
                         else f"{cport}/{proto or 'tcp'}")
    return [b for s in specs for b in _parse_publish(s)]


def _mount_from_docker(m: dict) -> Mount:
    """A Mounts entry (mount.Mount) as --mount's grammar reads the same fields."""
    t = m.get("Type") or "volume"
    fields = [f"type={t}", f"target={m.get('Target') or ''}"]
    if m.get("Source"):
        fields.append(f"source={m['Source']}")
    if m.get("ReadOnly"):
        fields.append("readonly")
    if (m.get("VolumeOptions") or {}).get("NoCopy"):
        fields.append("volume-nocopy=true")
    topts = m.get("TmpfsOptions") or {}
    if topts.get("SizeBytes"):
        fields.append(f"tmpfs-size={int(topts['SizeBytes'])}")
    if topts.get("Mode"):
        fields.append(f"tmpfs-mode={int(topts['Mode']):o}")
    if any("," in f for f in fields):
        raise InvalidParameter(f"invalid mount config: a comma in {m}")
    return mount_flags(None, [",".join(fields)], None)[0]


def _mount_to_docker(m: Mount) -> dict:
    r = m.record
    out: dict = {"Type": r["Type"], "Target": r["Target"]}
    src = r.get("Source") if r["Type"] == "bind" else r.get("Name")
    if src:
        out["Source"] = src
    if r.get("ReadOnly"):
        out["ReadOnly"] = True
    if r.get("NoCopy"):
        out["VolumeOptions"] = {"NoCopy": True}
    if r["Type"] == "tmpfs":
        topts = {}
        for o in r.get("Options") or []:
            k, _, v = o.partition("=")
            if k == "size":
                topts["SizeBytes"] = int(v)
            elif k == "mode":
                topts["Mode"] = int(v, 8)
        if topts:
            out["TmpfsOptions"] = topts
    return out


def _to_docker(spec: ContainerSpec) -> dict:
    from .net.ports import key
    cfg, host, r = spec.config, spec.host, spec.host.resources
    attach = (not spec.detach) if cfg.attach is None else cfg.attach
    bindings: dict = {}
    for b in host.port_bindings:
        hp = (f"{b['HostRange'][0]}-{b['HostRange'][1]}" if b.get("HostRange")
              else str(b["HostPort"]) if b["HostPort"] else "")
        bindings.setdefault(key(b), []).append({"HostIp": "" if b["HostIp"] == "0.0.0.0" else b["HostIp"],
                                                 "HostPort": hp})
    binds = [m.flag for m in host.mounts if m.origin == "volume" and ":" in m.flag]
    anon = [m.flag for m in host.mounts if m.origin == "volume" and ":" not in m.flag]
    out = {
        "Hostname": cfg.hostname, "User": cfg.user or "",
        "AttachStdin": bool(attach and cfg.open_stdin), "AttachStdout": bool(attach), "AttachStderr": bool(attach),
        "ExposedPorts": {p: {} for p in [*cfg.exposed_ports, *(k for k in bindings if k not in cfg.exposed_ports)]}
        or None,
        "Tty": cfg.tty, "OpenStdin": cfg.open_stdin, "StdinOnce": bool(attach and cfg.open_stdin),
        "Env": list(cfg.env) or None, "Cmd": cfg.cmd,
        "Healthcheck": cfg.healthcheck.record() if cfg.healthcheck else None,
        "Image": cfg.image, "Volumes": {v: {} for v in anon} or None, "WorkingDir": cfg.working_dir,
        "Entrypoint": cfg.entrypoint, "Labels": dict(cfg.labels),
        "StopSignal": cfg.stop_signal, "StopTimeout": cfg.stop_timeout,
        "HostConfig": {
            "Binds": binds or None, "LogConfig": {"Type": host.log_config.type, "Config": dict(host.log_config.config)},
            "NetworkMode": host.network_mode or "default", "PortBindings": bindings,
            "RestartPolicy": {"Name": host.restart_policy.name,
                              "MaximumRetryCount": host.restart_policy.maximum_retry_count},
            "AutoRemove": host.auto_remove, "VolumesFrom": list(host.volumes_from) or None,
            "CapAdd": list(host.cap_add) or None, "CapDrop": list(host.cap_drop) or None,
            "Dns": list(host.dns), "DnsOptions": list(host.dns_options), "DnsSearch": list(host.dns_search),
            "ExtraHosts": list(host.extra_hosts) or None, "GroupAdd": list(host.group_add) or None,
            "IpcMode": host.ipc_mode or "", "PidMode": host.pid_mode or "", "UTSMode": host.uts_mode or "",
            "Privileged": host.privileged, "PublishAllPorts": host.publish_all_ports,
            "ReadonlyRootfs": host.readonly_rootfs, "SecurityOpt": list(host.security_opt) or None,
            "Tmpfs": {m.record["Target"]: m.flag.partition(":")[2] for m in host.mounts if m.origin == "tmpfs"}
            or None,
            "CpuShares": r.cpu_shares or 0, "Memory": r.memory, "NanoCpus": r.nano_cpus,
            "BlkioWeight": r.blkio_weight or 0,
            "BlkioDeviceReadBps": [{"Path": d["Path"], "Rate": d["Rate"]} for d in r.device_read_bps],
            "BlkioDeviceWriteBps": [{"Path": d["Path"], "Rate": d["Rate"]} for d in r.device_write_bps],
            "CpusetCpus": r.cpuset_cpus or "", "MemorySwap": r.memory_swap or 0,
            "MemoryReservation": r.memory_reservation,
            "PidsLimit": r.pids_limit, "Ulimits": [dict(u) for u in r.ulimits] or None,
            "Mounts": [_mount_to_docker(m) for m in host.mounts if m.origin == "mount"] or None,
            "Init": host.init or None,
        },
        "NetworkingConfig": {"EndpointsConfig": {}},
    }
    if spec.networking.aliases or spec.networking.ipv4_address or spec.networking.ipv6_address:
        ep: dict = {"Aliases": list(spec.networking.aliases) or None}
        if spec.networking.ipv4_address or spec.networking.ipv6_address:
            ep["IPAMConfig"] = {k: v for k, v in (("IPv4Address", spec.networking.ipv4_address),
                                                  ("IPv6Address", spec.networking.ipv6_address)) if v}
        out["NetworkingConfig"]["EndpointsConfig"][host.network_mode or "default"] = ep
    return out
