"""The compose verbs on the engine: a Project's networks, volumes and containers made,
converged, started, stopped and removed through the Engine facade, as Docker Compose v2
does it (pkg/compose: names PROJECT-SERVICE-N and PROJECT_NAME, the com.docker.compose.*
labels, the config hash that decides what a second `up` recreates, depends_on's
conditions, orphans).

Everything compose knows of what it made is in those labels: a project's containers
are found by com.docker.compose.project, a service's by .service, and `ls` lists the
projects from them, so nothing is kept beside the engine's own records."""
from __future__ import annotations

import os
import posixpath
import shlex
import sys
import threading
import time
from typing import Callable, Optional

from dunnage.core.errors import Conflict, DunnageError, InvalidParameter, NotFound
from dunnage.core.spec import ContainerSpec, Healthcheck
from dunnage.core.units import parse_duration

from .model import Project

VERSION = "2.30.0"  # the Compose behaviour followed (com.docker.compose.version)
L = "com.docker.compose."
PROJECT, SERVICE, NUMBER, ONEOFF = L + "project", L + "service", L + "container-number", L + "oneoff"
HASH, WORKDIR, FILES = L + "config-hash", L + "project.working_dir", L + "project.config_files"
# the service keys a container is made from; the others (secrets, configs, devices, ...) are
# named in a warning and left out, never silently dropped
SUPPORTED = frozenset((
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose", "volumes", "tmpfs",
    "networks", "network_mode", "depends_on", "healthcheck", "restart", "deploy", "scale", "cpus", "mem_limit",
    "memswap_limit", "pids_limit", "user", "working_dir", "hostname", "labels", "cap_add", "cap_drop",
    "privileged", "security_opt", "ulimits", "read_only", "init", "stop_signal", "stop_grace_period", "logging",
    "extra_hosts", "dns", "dns_search", "dns_opt", "profiles", "container_name", "tty", "stdin_open", "pid",
    "ipc", "uts", "group_add", "cpu_shares", "cpuset", "volumes_from", "pull_policy", "attach", "annotations",
    "secrets", "configs", "mem_reservation", "gpus"))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def labels_of(c) -> dict:
    return c.config["Config"].get("Labels") or {}


def project_containers(engine, name: str, services: Optional[list[str]] = None, oneoff: Optional[bool] = False,
                       all_: bool = True) -> list:
    """The containers of project NAME (of SERVICES), by their labels, in service and number order."""
    out = []
    for c in engine.containers(all_=all_):
        lab = labels_of(c)
        if lab.get(PROJECT) != name:
            continue
        if services and lab.get(SERVICE) not in services:
            continue
        if oneoff is not None and (lab.get(ONEOFF) == "True") != oneoff:
            continue
        out.append(c)
    return sorted(out, key=lambda c: (labels_of(c).get(SERVICE, ""), _number(c), c.name))


def log_name(c) -> str:
    """The name a container's lines go out under, as compose's getContainerNameWithoutProject
    makes it: its name without the project's (web-1 of p-web-1), a container_name as it is."""
    lab = labels_of(c)
    project = lab.get(PROJECT, "")
    if c.name == f"{project}-{lab.get(SERVICE)}-{lab.get(NUMBER)}":
        return c.name[len(project) + 1:]
    return c.name


def _number(c) -> int:
    try:
        return int(labels_of(c).get(NUMBER) or 0)
    except ValueError:
        return 0


def _fresh(engine, c):
    try:
        return engine.container(c.id)
    except NotFound:
        return None


class Compose:
    def __init__(self, engine, project: Project, out: Callable[[str], None] = say):
        self.e = engine
        self.p = project
        self.say = out
        for w in project.warnings:
            self.say(f"WARN[0000] {w}")

    # ------------------------------------------------------------ resources
    def containers(self, services=None, oneoff: Optional[bool] = False, all_: bool = True) -> list:
        return project_containers(self.e, self.p.name, services, oneoff, all_)

    def orphans(self) -> list:
        return [c for c in self.containers() if labels_of(c).get(SERVICE) not in self.p.services
                and labels_of(c).get(SERVICE) not in self.p.disabled]

    def ensure_networks(self, services: list[str]) -> None:
        wanted = {n for s in services for n in (self.p.services[s].get("networks") or {})}
        existing = {r["Name"]: r for r in self.e.networks()}
        for key in sorted(wanted):
            net = self.p.networks[key]
            name = net["name"]
            if net.get("external"):
                if name not in existing:
                    raise NotFound(f"network {name} declared as external, but could not be found", 1)
                continue
            if name in existing:
                lab = existing[name].get("Labels") or {}
                if lab.get(L + "network") not in (None, key) or lab.get(PROJECT) not in (None, self.p.name):
                    raise Conflict(f'network {name} was found but has incorrect label {L}network set to '
                                   f'"{lab.get(L + "network", "")}"', 1)
                continue
            ipam = (net.get("ipam") or {}).get("config") or [{}]
            labels = {**(net.get("labels") or {}), L + "network": key, PROJECT: self.p.name, L + "version": VERSION}
            if net.get("driver") not in (None, "bridge"):
                raise InvalidParameter(f'network {key}: driver "{net["driver"]}" is not supported (bridge)', 1)
            by_family = {":" in str(c.get("subnet") or c.get("gateway") or ""): c for c in ipam}  # (one each)
            v4, v6 = by_family.get(False, {}), by_family.get(True, {})
            options = {k: str(v).lower() if isinstance(v, bool) else str(v)
                       for k, v in (net.get("driver_opts") or {}).items()}
            self.e.network_create(name, subnet=v4.get("subnet"), gateway=v4.get("gateway"),
                                  internal=bool(net.get("internal")), labels=[f"{k}={v}" for k, v in labels.items()],
                                  ipv6=bool(net.get("enable_ipv6")), subnet6=v6.get("subnet"),
                                  gateway6=v6.get("gateway"), options=options)
            self.say(f" Network {name}  Created")

    def ensure_volumes(self, services: list[str]) -> None:
        wanted = {v["source"] for s in services for v in self.p.services[s].get("volumes") or []
                  if v["type"] == "volume" and v.get("source")}
        existing = {v["Name"] for v in self.e.volumes()}
        for key in sorted(wanted):
            vol = self.p.volumes[key]
            name = vol["name"]
            if vol.get("external"):
                if name not in existing:
                    raise NotFound(f"external volume \"{name}\" not found", 1)
                continue
            if name in existing:
                continue
            labels = {**(vol.get("labels") or {}), L + "volume": key, PROJECT: self.p.name, L + "version": VERSION}
            self.e.volume_create(name, [f"{k}={v}" for k, v in labels.items()])
            self.say(f' Volume "{name}"  Created')

    def ensure_images(self, services: list[str], pull_missing: bool = True, build: Optional[bool] = None) -> None:
        """Each service's image: built (BUILD True: always; None: when missing; False: never),
        or pulled when missing, as its pull_policy says."""
        for s in services:
            svc = self.p.services[s]
            image = image_of(self.p, s)
            policy = svc.get("pull_policy") or "missing"
            if svc.get("build") is not None and (build or policy == "build"):
                self.build(s)
                continue
            try:
                self.e.image(image)
                have = True
            except DunnageError:
                have = False
            if have and policy != "always":
                continue
            if svc.get("build") is not None and policy != "always":
                if build is False:
                    raise NotFound(f'service "{s}": its image {image} is missing and --no-build was given', 1)
                self.build(s)
                continue
            if policy == "never" or not pull_missing:
                raise NotFound(f"No such image: {image}", 1)
            self.say(f" {s} Pulling")
            self.e.pull(image)
            self.say(f" {s} Pulled")

    def build(self, service: str, no_cache: bool = False, pull: bool = False, quiet: bool = False,
              args: Optional[dict] = None):
        """The service's build: section through dunnage's builder, tagged as its image
        (image:, else PROJECT-SERVICE as compose names it)."""
        from dunnage.builder import build as B
        from dunnage.builder import request
        from dunnage.builder.progress import Plain, Progress
        from dunnage.core.errors import exit_code_of
        b = self.p.services[service]["build"]
        ctx = b["context"]
        if not os.path.isdir(ctx):
            raise NotFound(f'service "{service}": build context "{ctx}" is not a directory', 1)
        if b.get("dockerfile_inline"):
            text, path = b["dockerfile_inline"], None
        else:
            text, path = request.read_dockerfile(ctx, os.path.join(ctx, b.get("dockerfile") or "Dockerfile"))
        build_args = {k: v for k, v in (b.get("args") or {}).items() if v is not None}
        build_args.update(args or {})
        opts = B.Options(dockerfile=text, context=ctx, excluded=request.ignore_rules(ctx, path),
                         tags=[image_of(self.p, service)], build_args=build_args, target=b.get("target"),
                         no_cache=no_cache or bool(b.get("no_cache")), pull=pull or bool(b.get("pull")),
                         labels=dict(b.get("labels") or {}), network=b.get("network"),
                         dockerfile_name=os.path.basename(b.get("dockerfile") or "Dockerfile"))
        self.say(f" Service {service}  Building")
        progress = Progress() if quiet else Plain(lambda t: (sys.stderr.write(t), sys.stderr.flush()))
        with exit_code_of(1):
            img = B.build(self.e, opts, progress)
        self.say(f" Service {service}  Built")
        return img

    # ------------------------------------------------------------ containers
    def spec(self, service: str, number: int, name: str, oneoff: bool = False) -> ContainerSpec:
        return spec_for(self.e, self.p, service, number, name, oneoff)

    def container_name(self, service: str, number: int) -> str:
        return self.p.services[service].get("container_name") or f"{self.p.name}-{service}-{number}"

    def create_one(self, service: str, number: int, oneoff: bool = False, name: Optional[str] = None,
                   tweak=None):
        name = name or self.container_name(service, number)
        spec = self.spec(service, number, name, oneoff)
        if tweak:
            tweak(spec)
        c = self.e.create_from(spec)
        try:
            if not self.p.services[service].get("network_mode"):
                for net_key, net in _ordered_networks(self.p, service)[1:]:
                    net = net or {}
                    self.e.network_connect(self.p.networks[net_key]["name"], c.id,
                                           aliases=[service, *(net.get("aliases") or [])],
                                           ip=net.get("ipv4_address"))
        except DunnageError:  # nothing half-made: a container that cannot join all its networks goes
            self.e.remove(c.id, force=True)
            raise
        return self.e.container(c.id)

    def converge(self, service: str, scale: Optional[int] = None, force: bool = False,
                 no_recreate: bool = False) -> list:
        """The service's containers, made to match the model: missing ones created, ones
        whose config hash differs or whose image is no longer the one its reference names
        (rebuilt, pulled again) recreated (FORCE: all), extra ones removed."""
        want = self.p.replicas(service) if scale is None else scale
        if want > 1 and self.p.services[service].get("container_name"):
            raise InvalidParameter(f'service "{service}" has container_name and cannot be scaled to {want}: '
                                   "a container name must be unique", 1)
        digest = self.p.config_hash(service)
        try:
            image = self.e.image(image_of(self.p, service)).id
        except DunnageError:
            image = None
        have = self.containers([service])
        out = []
        for c in have[want:][::-1]:
            self._stop_remove(c)
        for c in have[:want]:
            same_image = image is None or c.config.get("Image") == image
            if no_recreate or (not force and labels_of(c).get(HASH) == digest and same_image):
                out.append(c)
                continue
            number = _number(c) or 1
            self.say(f" Container {c.name}  Recreate")
            self._stop_remove(c, quiet=True)
            out.append(self.create_one(service, number))
            self.say(f" Container {out[-1].name}  Recreated")
        numbers = {_number(c) for c in out}
        n = 1
        while len(out) < want:
            while n in numbers:
                n += 1
            numbers.add(n)
            c = self.create_one(service, n)
            self.say(f" Container {c.name}  Created")
            out.append(c)
        return sorted(out, key=_number)

    def _stop_remove(self, c, quiet: bool = False, timeout: Optional[float] = None, volumes: bool = False) -> None:
        c = _fresh(self.e, c)
        if c is None:
            return
        if c.status in ("running", "paused", "restarting"):
            if not quiet:
                self.say(f" Container {c.name}  Stopping")
            self.e.stop(c.id, timeout=self._timeout(c, timeout))
            if not quiet:
                self.say(f" Container {c.name}  Stopped")
        self.e.remove(c.id, force=True, volumes=volumes)
        if not quiet:
            self.say(f" Container {c.name}  Removed")

    def _timeout(self, c, timeout: Optional[float]) -> Optional[float]:
        if timeout is not None:
            return timeout
        svc = self.p.services.get(labels_of(c).get(SERVICE, ""))
        if svc and svc.get("stop_grace_period"):
            return parse_duration(svc["stop_grace_period"]) / 1e9
        return None

    def start_service(self, service: str, containers: list, wait: bool = True) -> None:
        """CONTAINERS started once the service's dependencies meet their conditions (WAIT False:
        up --no-deps, whose dependencies are out of the project as compose v2 selects it)."""
        if wait:
            self.wait_dependencies(service)
        for c in containers:
            c = _fresh(self.e, c)
            if c is None:
                continue
            if c.status in ("running", "restarting"):
                self.say(f" Container {c.name}  Running")
                continue
            if c.status == "paused":
                continue
            self.inject_files(service, c)
            self.e.start(c.id)
            self.say(f" Container {c.name}  Started")

    def preflight(self, services: list[str]) -> None:
        """What would fail on create or start and can be known before anything is made: device
        requests, secrets and configs whose variable is not set or that a read-only service
        cannot take."""
        for s in services:
            check_resources(s, self.p.services[s])
            check_devices(s, self.p.services[s])
            file_contents(self.p, s)
            _secret_binds(self.p, s)

    def inject_files(self, service: str, c) -> None:
        """The service's `environment:` and `content:` secrets and configs copied into C before
        it starts, as compose does before each start (the value may have changed since)."""
        for target, data, mode, uid, gid in file_contents(self.p, service):
            put_file(self.e, c.id, target, data, mode, uid, gid)

    def wait_dependencies(self, service: str, timeout: Optional[float] = None) -> None:
        for dep, d in (self.p.services[service].get("depends_on") or {}).items():
            if dep not in self.p.services:
                continue
            cond = d.get("condition") or "service_started"
            if cond == "service_started":
                continue
            for c in self.containers([dep]):
                self.say(f" Container {c.name}  Waiting")
                wait_condition(self.e, c, cond, timeout)
                self.say(f" Container {c.name}  {'Healthy' if cond == 'service_healthy' else 'Exited'}")

    # ------------------------------------------------------------ verbs
    def up(self, services: Optional[list[str]] = None, *, no_deps: bool = False, force_recreate: bool = False,
           no_recreate: bool = False, remove_orphans: bool = False, scale: Optional[dict] = None,
           start: bool = True, build: Optional[bool] = None) -> list:
        """create (and START) the services and what they depend on; returns their containers."""
        scale = scale or {}
        for s in scale:
            if s not in self.p.services:
                raise NotFound(f"no such service: {s}", 1)
        order = self.p.service_order(services or None, with_deps=not no_deps)
        self.preflight(order)
        self.ensure_images(order, build=build)
        self._orphans(remove_orphans)
        self.ensure_networks(order)
        self.ensure_volumes(order)
        made, recreated = [], set()
        for s in order:
            before = {c.id for c in self.containers([s])}
            cs = self.converge(s, scale.get(s), force_recreate, no_recreate)
            if before - {c.id for c in cs}:
                recreated.add(s)
            if start:
                self._restart_dependents_of(s, recreated, cs)
                self.start_service(s, cs, wait=not no_deps)
            made += cs
        return made

    def _restart_dependents_of(self, service: str, recreated: set, cs: list) -> None:
        """depends_on's `restart: true`: a service whose dependency was recreated is restarted
        (its containers that were kept, running)."""
        deps = self.p.services[service].get("depends_on") or {}
        if service in recreated or not any(d in recreated and x.get("restart") for d, x in deps.items()):
            return
        for c in cs:
            c = _fresh(self.e, c)
            if c is not None and c.status == "running":
                self.e.stop(c.id, timeout=self._timeout(c, None))
                self.say(f" Container {c.name}  Restarting")

    def _orphans(self, remove: bool) -> None:
        orphans = self.orphans()
        if not orphans:
            return
        if remove:
            for c in orphans:
                self._stop_remove(c)
            return
        self.say(f"WARN[0000] Found orphan containers ([{' '.join(c.name for c in orphans)}]) for this project. "
                 "If you removed or renamed this service in your compose file, you can run this command with "
                 "the --remove-orphans flag to clean it up.")

    def down(self, volumes: bool = False, remove_orphans: bool = False, timeout: Optional[float] = None,
             rmi: Optional[str] = None) -> None:
        fileless = not self.p.config_files  # -p NAME alone: the project is what its labels say
        # as compose v2's down: the containers of the services the project has on (not those
        # of a service its profiles leave off, which is not an orphan either: v2 removes them
        # only by the project's name alone or with the profile); one-off containers (compose
        # run's) only with --remove-orphans, as down lists them only then, an orphan one-off
        # only once it has exited (isOrphaned); orphans after the walk, and no warning of them
        # (up's convergence warns, v2's down does not)
        every = self.containers(oneoff=None if remove_orphans else False)
        cs = [c for c in every if fileless or labels_of(c).get(SERVICE) in self.p.services]
        orphans = [c for c in every if remove_orphans and c not in cs and (
            c.status in ("exited", "dead") if labels_of(c).get(ONEOFF) == "True"
            else labels_of(c).get(SERVICE) not in self.p.disabled)]
        errors = self.in_reverse_dependency_order(cs, lambda c: self._stop_remove(c, False, timeout, volumes))
        errors += _run_all([threading.Thread(target=self._stop_remove, args=(c, False, timeout))
                            for c in orphans])
        # --rmi local: the images compose named itself (built, with no image: of their own)
        images = {image_of(self.p, s) for s, svc in self.p.services.items()
                  if rmi == "all" or (rmi == "local" and not svc.get("image"))} if rmi else set()
        nets = {r["Name"]: r for r in self.e.networks()}
        declared = dict(self.p.networks)
        if fileless:
            declared = {n: {"name": n} for n, r in nets.items() if (r.get("Labels") or {}).get(PROJECT) == self.p.name}
        for key, net in sorted(declared.items()):
            if net.get("external") or net["name"] not in nets:
                continue
            if (nets[net["name"]].get("Labels") or {}).get(PROJECT) not in (None, self.p.name):
                continue
            if self._remove_in_use(self.e.network_remove, net["name"], f"Network {net['name']}"):
                self.say(f" Network {net['name']}  Removed")
        if volumes:
            have = {v["Name"] for v in self.e.volumes()}
            declared = dict(self.p.volumes)
            if fileless:
                declared = {v["Name"]: {"name": v["Name"]} for v in self.e.volumes()
                            if (v.get("Labels") or {}).get(PROJECT) == self.p.name}
            for key, vol in sorted(declared.items()):
                if not vol.get("external") and vol["name"] in have and \
                        self._remove_in_use(self.e.volume_remove, vol["name"], f"Volume {vol['name']}"):
                    self.say(f' Volume {vol["name"]}  Removed')
        for ref in sorted(images):
            try:
                self.e.remove_image(ref)
                self.say(f" Image {ref}  Removed")
            except DunnageError as ex:
                self.say(f"WARN[0000] {ex}")
        if errors:
            raise errors[0]

    def _remove_in_use(self, remove, name: str, what: str) -> bool:
        """REMOVE(NAME); one still in use (an orphan left running on a network, in a volume)
        is a warning and stays, as compose's down says "Resource is still in use" and goes on."""
        try:
            remove(name)
            return True
        except NotFound:
            return False
        except DunnageError as ex:
            if ex.status != 409:
                raise
            self.say(f" {what}  Resource is still in use")
            return False

    def dependencies(self, cs: list, restart_only: bool = False) -> dict[str, set[str]]:
        """Each service's dependencies (RESTART_ONLY: those with depends_on's `restart: true`):
        the model's depends_on, and for a service the model does not have (a project by its
        name alone, an orphan) its containers' depends_on label, as compose's
        getProjectWithResources reads it."""
        deps = {s: {d for d, x in (svc.get("depends_on") or {}).items() if not restart_only or x.get("restart")}
                for s, svc in self.p.services.items()}
        for c in cs:
            lab = labels_of(c)
            s = lab.get(SERVICE)
            if s and s not in deps:
                deps[s] = {x.split(":")[0] for x in (lab.get(L + "depends_on") or "").split(",")
                           if x and (not restart_only or x.split(":")[2:] == ["true"])}
        return deps

    def in_dependency_order(self, cs: list, fn, deps: Optional[dict] = None, reverse: bool = False) -> list:
        """FN(container) for each of CS, the containers of a service only once those of every
        service it depends on are done (REVERSE: every service depending on it), as compose's
        InDependencyOrder and InReverseDependencyOrder walk the graph; what nothing left waits
        for, in parallel.  Returns the errors, the walk going on past them."""
        deps = self.dependencies(cs) if deps is None else deps
        height: dict[str, int] = {}

        def rank(s: str, chain: tuple = ()) -> int:  # 0: nothing to wait for
            if s not in height:
                before = [d for d, ds in deps.items() if s in ds] if reverse else deps.get(s, ())
                height[s] = max((rank(d, chain + (s,)) + 1 for d in before if d not in chain), default=0)
            return height[s]
        errors = []
        for h in sorted({rank(labels_of(c).get(SERVICE, "")) for c in cs}):
            errors += _run_all([threading.Thread(target=fn, args=(c,)) for c in cs
                                if rank(labels_of(c).get(SERVICE, "")) == h])
        return errors

    def in_reverse_dependency_order(self, cs: list, fn) -> list:
        return self.in_dependency_order(cs, fn, reverse=True)

    def _check_services(self, services, every: list) -> None:
        known = self.p.services if self.p.config_files else self.dependencies(every)
        for s in services or []:
            if s not in known:
                raise NotFound(f"no such service: {s}", 1)

    def restart(self, services: Optional[list[str]] = None, timeout: Optional[float] = None) -> int:
        """compose restart as v2's: only depends_on's `restart: true` relations count, SERVICES
        (all: None) come with what depends on them so (IncludeDependents), and a service's
        containers are restarted once those of its dependencies are."""
        every = self.containers()
        self._check_services(services, every)
        deps = self.dependencies(every, restart_only=True)
        chosen = set(services or [])
        todo = list(chosen)
        while todo:
            s = todo.pop()
            for d, ds in deps.items():
                if s in ds and d not in chosen:
                    chosen.add(d)
                    todo.append(d)
        cs = [c for c in every if not services or labels_of(c).get(SERVICE) in chosen]

        def one(c):
            self.say(f" Container {c.name}  Restarting")
            self.e.restart(c.id, self._timeout(c, timeout))
            self.say(f" Container {c.name}  Started")
        errors = self.in_dependency_order(cs, one, deps)
        if errors:
            raise errors[0]
        return 0

    def stop(self, services: Optional[list[str]] = None, timeout: Optional[float] = None) -> int:
        """compose stop: the containers of SERVICES (all: None) stopped in reverse dependency
        order, a dependency after what depends on it, as compose v2's stop walks the graph."""
        self._check_services(services, self.containers())
        cs = [c for c in self.containers(services or None) if c.status in ("running", "paused", "restarting")]

        def one(c):
            self.say(f" Container {c.name}  Stopping")
            self.e.stop(c.id, self._timeout(c, timeout))
            self.say(f" Container {c.name}  Stopped")
        errors = self.in_reverse_dependency_order(cs, one)
        if errors:
            raise errors[0]
        return 0

    def each(self, services, verb: str, fn, running_only: bool = False, done: str = "") -> int:
        """FN(container) for each container of SERVICES, in parallel."""
        cs = self.containers(services or None)
        if running_only:
            cs = [c for c in cs if c.status in ("running", "paused", "restarting")]
        if services:
            for s in services:
                if s not in self.p.services:
                    raise NotFound(f"no such service: {s}", 1)

        def one(c):
            self.say(f" Container {c.name}  {verb}")
            fn(c)
            self.say(f" Container {c.name}  {done}")
        errors = _run_all([threading.Thread(target=one, args=(c,)) for c in cs])
        if errors:
            raise errors[0]
        return 0


def _run_all(threads: list) -> list:
    errors = []

    def wrap(t):
        target = t._target

        def run(*a, **kw):
            try:
                target(*a, **kw)
            except DunnageError as ex:
                errors.append(ex)
        t._target = run
        return t
    for t in threads:
        wrap(t).start()
    for t in threads:
        t.join()
    return errors


def wait_condition(engine, c, cond: str, timeout: Optional[float] = None, poll: float = 0.1) -> None:
    """Until C meets COND (service_healthy, service_completed_successfully, running)."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        c = engine.container(c.id)
        st = c.state
        if cond == "service_healthy":
            if not (c.config["Config"].get("Healthcheck") or {}).get("Test") or \
                    (c.config["Config"]["Healthcheck"]["Test"][:1] == ["NONE"]):
                raise InvalidParameter(f"container {c.name} has no healthcheck configured", 1)
            # an exited container first, as compose's isServiceHealthy: its last health is stale
            if c.status in ("exited", "dead"):
                raise Conflict(f"dependency failed to start: container {c.name} exited ({st.get('ExitCode', 0)})",
                               1)
            health = (st.get("Health") or {}).get("Status")
            if health == "healthy":
                return
            if health == "unhealthy":
                raise Conflict(f"dependency failed to start: container {c.name} is unhealthy", 1)
        elif cond == "service_completed_successfully":
            if c.status in ("exited", "dead"):
                code = int(st.get("ExitCode") or 0)
                if code:
                    raise Conflict(f'service "{labels_of(c).get(SERVICE)}" didn\'t complete successfully: '
                                   f"exit {code}", 1)
                return
        elif cond == "running":
            if c.status == "running":
                return
            if c.status in ("exited", "dead"):
                raise Conflict(f"container {c.name} exited ({st.get('ExitCode', 0)})", 1)
        if end is not None and time.monotonic() > end:
            raise Conflict(f"timeout waiting for container {c.name}", 1)
        time.sleep(poll)


# ------------------------------------------------------------------ the create request
def image_of(p: Project, service: str) -> str:
    svc = p.services[service]
    return svc.get("image") or f"{p.name}-{service}"


def _ordered_networks(p: Project, service: str) -> list:
    """By priority, then name, as compose connects them; at equal priority a network with a
    way out comes before an internal one, so the container's default route is there (docker
    takes its gateway from the first network that has one; dunnage from the first joined)."""
    nets = p.services[service].get("networks") or {}
    return sorted(nets.items(), key=lambda kv: (-((kv[1] or {}).get("priority") or 0),
                                                bool(p.networks.get(kv[0], {}).get("internal")), kv[0]))


def spec_for(engine, p: Project, service: str, number: int, name: str, oneoff: bool = False) -> ContainerSpec:
    """The create request of container NUMBER of SERVICE, with compose's labels."""
    svc = p.services[service]
    unsupported = sorted(k for k in svc if k not in SUPPORTED)
    if unsupported:
        say(f'WARN[0000] service "{service}": {", ".join(unsupported)} not supported by dunnage yet: left out')
    deploy = svc.get("deploy") or {}
    check_devices(service, svc)
    env = [f"{k}={v}" for k, v in (svc.get("environment") or {}).items() if v is not None]
    labels = {**(deploy.get("labels") or {}), **(svc.get("labels") or {})} if isinstance(deploy.get("labels"), dict) \
        else dict(svc.get("labels") or {})
    labels.update({
        PROJECT: p.name, SERVICE: service, NUMBER: str(number), ONEOFF: "True" if oneoff else "False",
        HASH: p.config_hash(service), WORKDIR: p.working_dir, FILES: ",".join(p.config_files),
        L + "version": VERSION,
        L + "depends_on": ",".join(f"{d}:{x['condition']}:{str(bool(x.get('restart'))).lower()}"
                                   for d, x in sorted((svc.get("depends_on") or {}).items())),
    })
    try:
        labels[L + "image"] = engine.image(image_of(p, service)).id
    except DunnageError:
        pass
    restart = restart_of(svc)
    mode = svc.get("network_mode")
    nets = _ordered_networks(p, service)
    network = aliases = ip = None
    if mode:
        if mode.startswith("service:"):
            others = project_containers(engine, p.name, [mode[8:]])
            if not others:
                raise NotFound(f'service "{service}" uses the network of service "{mode[8:]}", which has no '
                               "container", 1)
            network = f"container:{others[0].name}"
        else:
            network = mode
    elif nets:
        key, cfg = nets[0]
        cfg = cfg or {}
        network = p.networks[key]["name"]
        aliases = [service, *(cfg.get("aliases") or [])]
        ip = cfg.get("ipv4_address")
    binds, tmpfs = [], list(svc.get("tmpfs") or [])
    for v in svc.get("volumes") or []:
        ro = ":ro" if v.get("read_only") else ""
        if v["type"] == "bind":
            if (v.get("bind") or {}).get("create_host_path", True):
                os.makedirs(v["source"], exist_ok=True)
            elif not os.path.exists(v["source"]):
                raise NotFound(f"bind source path does not exist: {v['source']}", 1)
            binds.append(f"{v['source']}:{v['target']}{ro}")
        elif v["type"] == "volume":
            if v.get("source"):
                nocopy = ",nocopy" if (v.get("volume") or {}).get("nocopy") else ""
                binds.append(f"{p.volumes[v['source']]['name']}:{v['target']}{ro or (':rw' if nocopy else '')}"
                             f"{nocopy}")
            else:
                binds.append(v["target"])
        elif v["type"] == "tmpfs":
            size = (v.get("tmpfs") or {}).get("size")
            tmpfs.append(v["target"] + (f":size={size}" if size else ""))
        else:
            raise InvalidParameter(f'service "{service}": volume type {v["type"]} is not supported', 1)
    binds += _secret_binds(p, service)
    publish = []
    for port in svc.get("ports") or []:
        ip_part = port.get("host_ip") or ""
        ip_part = f"[{ip_part}]" if ":" in ip_part else ip_part
        pub = port.get("published") or ""
        publish.append(f"{ip_part + ':' if ip_part else ''}{pub + ':' if pub or ip_part else ''}"
                       f"{port['target']}/{port.get('protocol') or 'tcp'}")
    ulimits = []
    for k, u in (svc.get("ulimits") or {}).items():
        ulimits.append(f"{k}={u['soft']}:{u['hard']}" if isinstance(u, dict) else f"{k}={u}")
    logging = svc.get("logging") or {}
    stop_timeout = None
    if svc.get("stop_grace_period"):
        stop_timeout = int(parse_duration(svc["stop_grace_period"]) // 10**9)
    hostname = svc.get("hostname")
    spec = ContainerSpec.from_flags(
        image_of(p, service), svc.get("command"), name=name, detach=True, attach=False, env=env,
        **resources_of(svc), hostname=hostname, workdir=svc.get("working_dir"),
        cap_add=svc.get("cap_add"), cap_drop=svc.get("cap_drop"), privileged=svc.get("privileged"),
        security_opt=svc.get("security_opt"), user=None if svc.get("user") is None else str(svc["user"]),
        group_add=[str(g) for g in svc.get("group_add") or []], read_only=svc.get("read_only"), ulimits=ulimits,
        labels=[f"{k}={v}" for k, v in labels.items()], stop_signal=svc.get("stop_signal"),
        stop_timeout=stop_timeout, tty=svc.get("tty"), interactive=svc.get("stdin_open"), restart=restart,
        log_opts=[f"{k}={v}" for k, v in (logging.get("options") or {}).items()],
        pid_mode=svc.get("pid"), ipc_mode=svc.get("ipc"), uts_mode=svc.get("uts"), network=network,
        publish=publish, expose=svc.get("expose"), ip=ip, network_aliases=aliases, dns=svc.get("dns"),
        dns_search=svc.get("dns_search"), dns_options=svc.get("dns_opt"), add_hosts=svc.get("extra_hosts"),
        volumes=binds, tmpfs=tmpfs, init=svc.get("init"),
        cpu_shares=svc.get("cpu_shares"), cpuset_cpus=svc.get("cpuset"),
        volumes_from=_volumes_from(engine, p, svc.get("volumes_from")))
    if logging.get("driver"):
        spec.host.log_config.type = logging["driver"]
    if svc.get("entrypoint") is not None:
        spec.config.entrypoint = list(svc["entrypoint"])
    hc = svc.get("healthcheck")
    if hc:
        spec.config.healthcheck = _health(hc)
    return spec


def resources_of(svc: dict) -> dict:
    """The service's limits as create's flags, as compose's getDeployResources maps them:
    deploy.resources.limits over mem_limit, cpus, pids_limit; reservations.memory over
    mem_reservation (reservations.cpus is swarm's: nothing)."""
    res = (svc.get("deploy") or {}).get("resources") or {}
    limits, reservations = res.get("limits") or {}, res.get("reservations") or {}
    return {"memory": _opt(limits.get("memory") or svc.get("mem_limit")),
            "cpus": _opt(limits.get("cpus") or svc.get("cpus")),
            "pids_limit": limits.get("pids") or svc.get("pids_limit"),
            "memory_swap": _opt(svc.get("memswap_limit")),
            "memory_reservation": _opt(reservations.get("memory") or svc.get("mem_reservation"))}


def restart_of(svc: dict) -> Optional[str]:
    """The service's restart policy as compose's getRestartPolicy makes it: deploy.restart_policy,
    where there is one, over restart (its condition none/no, on-failure, unless-stopped,
    any/always; max_attempts the retry count, which only on-failure takes, as dockerd says)."""
    rp = (svc.get("deploy") or {}).get("restart_policy")
    if rp is None:
        return svc.get("restart")
    cond = rp.get("condition") or "no"
    name = {"none": "no", "any": "always"}.get(cond, cond)
    return f"{name}:{rp['max_attempts']}" if rp.get("max_attempts") else name


def check_resources(service: str, svc: dict) -> None:
    """The limits and the restart policy checked as create checks them, before anything of the
    project is made."""
    from dunnage.core.errors import exit_code_of
    with exit_code_of(1):
        ContainerSpec.from_flags("check", None, **resources_of(svc), restart=restart_of(svc)).validate()


def check_devices(service: str, svc: dict) -> None:
    """deploy.resources.reservations.devices and gpus are device requests (DeviceRequests)
    that dockerd hands to a device driver (nvidia's, CDI); dunnage has none, so the first is
    refused as dockerd refuses one no driver takes, before anything is made."""
    res = ((svc.get("deploy") or {}).get("resources") or {}).get("reservations") or {}
    gpus = svc.get("gpus")
    requests = [(dev.get("driver"), list(dev.get("capabilities") or [])) for dev in res.get("devices") or []]
    requests += [((g or {}).get("driver"), list((g or {}).get("capabilities") or []) + ["gpu"])
                 for g in ([{}] if gpus == "all" else gpus if isinstance(gpus, list) else [])]
    for driver, caps in requests:
        raise InvalidParameter(f'could not select device driver "{driver or ""}" with capabilities: '
                               f"[[{' '.join(str(c) for c in caps)}]]", 1)


def _file_refs(p: Project, service: str) -> list[tuple[str, str, dict, dict, str]]:
    """A service's secrets and configs: (kind, source, top-level object, target in the
    container) with compose's targets: /run/secrets/NAME (or a relative TARGET there), /NAME
    for a config (or /TARGET)."""
    out = []
    for key, base in (("secrets", "/run/secrets/"), ("configs", "/")):
        for item in p.services[service].get(key) or []:
            item = {"source": item} if isinstance(item, str) else item
            src = item["source"]
            obj = p.extras[key][src] or {}
            target = item.get("target") or src
            out.append((key, src, obj, item, target if target.startswith("/") else base + target))
    return out


def _secret_binds(p: Project, service: str) -> list[str]:
    """A service's `file:` secrets and configs, the host's files bound read-only (the
    others are copied in before each start: inject_files)."""
    out = []
    for key, src, obj, _, target in _file_refs(p, service):
        name = obj.get("name") or f"{p.name}_{src}"
        if obj.get("external"):
            raise InvalidParameter(f"unsupported external {key[:-1]} {name}", 1)
        for k in ("driver", "template_driver"):
            if obj.get(k):
                raise InvalidParameter(f"Docker Compose does not support {key}.*.{k}", 1)
        if obj.get("file") is None or obj.get("environment") is not None or \
                (key == "configs" and obj.get("content") is not None):
            continue
        if not os.path.exists(obj["file"]):
            raise NotFound(f'{key[:-1]} "{src}": {obj["file"]} does not exist', 1)
        out.append(f"{obj['file']}:{target}:ro")
    return out


def file_contents(p: Project, service: str) -> list[tuple[str, bytes, int, int, int]]:
    """The secrets and configs of SERVICE that are copied in, as compose's injectFileReferences
    makes them: (target, value, mode (0444 unless given), uid, gid).  Raises, before anything
    is made, for a variable that is not set and for a read-only service."""
    svc = p.services[service]
    out = []
    for key, src, obj, item, target in _file_refs(p, service):
        value = p.file_content(key, src)
        if not value:  # compose: nothing to copy for an empty value
            continue
        if svc.get("read_only"):
            raise InvalidParameter(f'cannot create {key[:-1]} "{obj.get("name") or p.name + "_" + src}" in '
                                   f"read-only service {service}: `file` is the sole supported option", 1)
        mode = item.get("mode")
        out.append((target, value.encode(), 0o444 if mode is None else int(mode), int(item.get("uid") or 0),
                    int(item.get("gid") or 0)))
    return out


def put_file(engine, cid: str, target: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    """DATA written at TARGET in (stopped) container CID as compose's tar copies it: the
    directories on the way made (0755, root's), what is at TARGET replaced, never written
    through a link, owned UID:GID with MODE.  In a volume or bind mount where TARGET lies
    in one, as docker cp does."""
    from dunnage.core.errors import System
    from dunnage.core.files import cp_at, cp_root
    from dunnage.core.runtime import openat
    parent, name = posixpath.split(posixpath.normpath("/" + target))
    with cp_root(engine, cid) as (c, root):
        rootfd, rel = cp_at(c, root, parent, writing=True)
        try:
            dirfd = openat.ensure(rootfd, rel or "/", directory=True)
        except OSError as ex:
            raise System(f"copying to {target}: {openat.message(ex)}", 1) from None
        finally:
            os.close(rootfd)
        try:
            try:
                os.unlink(name, dir_fd=dirfd)
            except FileNotFoundError:
                pass
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dirfd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fchown(fd, uid, gid)
                os.fchmod(fd, mode)
            finally:
                os.close(fd)
        except OSError as ex:
            raise System(f"copying to {target}: {openat.message(ex)}", 1) from None
        finally:
            os.close(dirfd)


def _opt(v):
    return None if v is None else str(v)


def _health(hc: dict) -> Healthcheck:
    if hc.get("disable"):
        return Healthcheck(test=["NONE"])
    h = Healthcheck(test=list(hc["test"]) if hc.get("test") else None)
    for key, attr in (("interval", "interval"), ("timeout", "timeout"), ("start_period", "start_period")):
        if hc.get(key):
            setattr(h, attr, parse_duration(hc[key]))
    if hc.get("retries") is not None:
        h.retries = int(hc["retries"])
    return h


def _volumes_from(engine, p: Project, items) -> list[str]:
    out = []
    for item in items or []:
        ref, _, mode = str(item).partition(":")
        if ref.startswith("container:"):
            ref = ref[10:]
        elif ref in p.services:
            cs = project_containers(engine, p.name, [ref])
            if not cs:
                raise NotFound(f'volumes_from: service "{ref}" has no container', 1)
            ref = cs[0].name
        out.append(ref + (f":{mode}" if mode else ""))
    return out


def command_text(c) -> str:
    return shlex.join(c.config.get("Argv") or [])
