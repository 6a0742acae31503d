"""The dashboard's compose project actions, through dunnage.compose's functions as the
command line calls them.  Imported when a project action runs, never at start-up: the
compose model pulls in YAML, which the first frame does without."""
from __future__ import annotations

import os

from dunnage.compose.model import Options, Project, check_project_name, load
from dunnage.compose.project import FILES, WORKDIR, Compose, labels_of, log_name, project_containers
from dunnage.core.errors import NotFound


def project(engine, name: str, fileless: bool = False) -> Project:
    """Project NAME's model, from the files and directory its containers' labels name (as
    `compose -f FILES --project-directory DIR -p NAME`); with FILELESS, where the files are
    gone, the project as its labels have it (enough to stop, restart or take it down)."""
    cs = project_containers(engine, name, oneoff=None)
    lab = labels_of(cs[0]) if cs else {}
    files = [f for f in (lab.get(FILES) or "").split(",") if f]
    if files and all(os.path.exists(f) for f in files):
        return load(Options(files=files, project_name=name, project_directory=lab.get(WORKDIR) or None))
    if not fileless:
        raise NotFound(f"project {name}: its compose file{'s' if len(files) > 1 else ''} "
                       f"{', '.join(files) or '(none recorded)'} cannot be read", 1)
    return Project(check_project_name(name), lab.get(WORKDIR) or os.getcwd(), [], {}, {}, {}, {})


def run(engine, name: str, verb: str) -> list[str]:
    """VERB (up, down, stop, restart, pause, unpause, kill) on project NAME; returns what compose said."""
    said: list[str] = []
    comp = Compose(engine, project(engine, name, fileless=verb != "up"), out=said.append)
    if verb == "up":
        comp.up()
    elif verb == "down":
        comp.down()
    elif verb == "stop":
        comp.stop()
    elif verb == "restart":
        comp.restart()
    elif verb in TOGGLES:  # each on the containers in the state it applies to, the others left as they are
        state, fn, ing, done = TOGGLES[verb]
        comp.each(None, ing, lambda c: fn(engine, c.id) if c.status in state else None, True, done)
    return said


TOGGLES = {"pause": (("running",), lambda e, cid: e.pause(cid), "Pausing", "Paused"),
           "unpause": (("paused",), lambda e, cid: e.unpause(cid), "Unpausing", "Unpaused"),
           "kill": (("running", "paused", "restarting"), lambda e, cid: e.kill(cid), "Killing", "Killed")}


def logs(engine, name: str, tail: int = 2000) -> list[tuple[str, str, str]]:
    """(container name without the project's, stream, line) of every service's log of project
    NAME, interleaved by time as `compose logs` prints them; the last TAIL lines."""
    out = []
    for c in project_containers(engine, name):
        partial = b""
        for t, stream, data in engine.logs(c.id):
            buf = partial + data
            *lines, partial = buf.split(b"\n")
            out += [(t, log_name(c), stream, ln.decode("utf-8", "replace")) for ln in lines]
        if partial:
            out.append((2 ** 63, log_name(c), "stdout", partial.decode("utf-8", "replace")))
    out.sort(key=lambda x: x[0])
    return [(n, s, ln) for _, n, s, ln in out[-tail:]]


def model(engine, name: str) -> str:
    """Project NAME's resolved model, as `compose config` prints it."""
    return project(engine, name).yaml()
