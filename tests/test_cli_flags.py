"""No docker flag taken and ignored: each flag of docker 20.10's CLI that dunnage's command
line takes does what docker's does, and one it does not take is refused in one line, exit
125. Held to a dockerd of the module's own and its CLI (Debian's docker.io 20.10,
tests/peers.py) where what docker does is the measure."""
from __future__ import annotations

import json

import pytest

from conftest import cli
from peers import Dockerd, Registry, build_layout, skopeo

pytestmark = pytest.mark.timeout(300)

IMAGE = "local/busybox:latest"


@pytest.fixture(scope="module")
def dockerd():
    d = Dockerd()
    try:
        yield d
    finally:
        d.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A registry on 127.0.0.1 holding test/img:1 (umoci's two-layer busybox)."""
    work = tmp_path_factory.mktemp("flags-registry")
    r = Registry(work / "registry")
    try:
        skopeo("copy", "--dest-tls-verify=false", f"oci:{build_layout(work)}:1", f"docker://{r.host}/test/img:1")
        yield r
    finally:
        r.close()


def refused(p) -> bool:
    """Refused as a bad flag: nothing on stdout, one line on stderr, docker's 125."""
    return p.returncode == 125 and p.stdout == b"" and len(p.stderr.splitlines()) == 1


PRUNES = (["container", "prune"], ["image", "prune"], ["image", "prune", "-a"], ["network", "prune"],
          ["volume", "prune"], ["builder", "prune"], ["builder", "prune", "-a"])


def test_prunes_ask_first_and_keep_everything_on_no(session_root, engine, dockerd):
    """Without -f each prune asks as docker's CLI does and prunes nothing unless the answer
    is y: no answer (a script's closed stdin), n and yes (docker 20.10 takes only y) are a
    no, with docker's words and exit 0. Container and image prune went ahead without asking,
    -f taken and ignored; network, volume and builder prune too."""
    assert cli(session_root, "create", "--name", "fl-stopped", "-v", "/anon", IMAGE, "true").returncode == 0
    anon = engine.inspect("fl-stopped")["Mounts"][0]["Name"]
    try:
        assert cli(session_root, "network", "create", "fl-net").returncode == 0
        assert cli(session_root, "tag", IMAGE, "fl/unused:1").returncode == 0

        def kept() -> dict:
            return {"container": cli(session_root, "inspect", "fl-stopped").returncode == 0,
                    "network": cli(session_root, "network", "inspect", "fl-net").returncode == 0,
                    "volume": cli(session_root, "volume", "inspect", anon).returncode == 0,
                    "image": cli(session_root, "image", "inspect", "fl/unused:1").returncode == 0}
        assert cli(session_root, "rm", "fl-stopped").returncode == 0  # (without -v: its volume stays, unused)
        assert cli(session_root, "create", "--name", "fl-stopped", IMAGE, "true").returncode == 0
        for args in PRUNES:
            for answer in (b"", b"n\n", b"yes\n"):
                d, u = dockerd(*args, input=answer), cli(session_root, *args, input=answer)
                want = d.stdout
                if args == ["volume", "prune"]:  # (dunnage's takes the anonymous ones, as docker 23's: its words)
                    want = want.replace(b"remove all local volumes", b"remove anonymous local volumes")
                assert (u.returncode, u.stdout, u.stderr) == (0, want, b""), (args, answer, u.stderr, d.stderr)
                assert d.returncode == 0 and b"Are you sure you want to continue? [y/N] " in u.stdout
        assert kept() == {"container": True, "network": True, "volume": True, "image": True}
        # y goes on (the session's image stays: no image prune -a here)
        for args, gone in ((["container", "prune"], "container"), (["network", "prune"], "network"),
                           (["volume", "prune"], "volume")):
            p = cli(session_root, *args, input=b"y\n")
            assert p.returncode == 0 and b"[y/N] Deleted " in p.stdout, (args, p.stdout, p.stderr)
            assert not kept()[gone], args
    finally:
        cli(session_root, "rm", "-f", "fl-stopped")
        cli(session_root, "network", "rm", "fl-net")
        cli(session_root, "volume", "rm", anon)
        cli(session_root, "rmi", "fl/unused:1")


def test_volume_rm_force_passes_over_a_missing_volume(session_root, engine, dockerd):
    """volume rm -f NAME: a volume that is not there is no error, its name printed, exit 0
    (-f was taken and ignored: exit 1); one in use is still refused."""
    for run in (dockerd, lambda *a: cli(session_root, *a)):
        p = run("volume", "rm", "-f", "fl-nosuch")
        assert (p.returncode, p.stdout, p.stderr) == (0, b"fl-nosuch\n", b""), (run, p.stderr)
        assert run("volume", "rm", "fl-nosuch").returncode == 1
        assert run("volume", "rm", "-f", "fl-nosuch", "fl-nosuch2").stdout == b"fl-nosuch\nfl-nosuch2\n"
    try:
        assert cli(session_root, "create", "--name", "fl-user", "-v", "fl-used:/data", IMAGE, "true").returncode == 0
        p = cli(session_root, "volume", "rm", "-f", "fl-used")
        assert p.returncode == 1 and b"volume is in use" in p.stderr and p.stdout == b""
    finally:
        cli(session_root, "rm", "-f", "fl-user")
        cli(session_root, "volume", "rm", "fl-used")


def test_a_flag_s_prefix_is_no_flag(session_root, engine, dockerd):
    """docker's flags are whole words: --no-tr is refused, not taken as --no-trunc (argparse
    took any unambiguous prefix: network prune --forc pruned without asking)."""
    for args in (["ps", "--no-tr"], ["images", "--dig"], ["volume", "ls", "--form", "{{.Name}}"],
                 ["network", "prune", "--forc"], ["logs", "--time", "fl-none"], ["rm", "--forc", "fl-none"]):
        d, u = dockerd(*args), cli(session_root, *args)
        assert d.returncode == 125 and refused(u), (args, u.returncode, u.stdout, u.stderr)


def test_image_takes_no_flags_before_its_verb(session_root, engine, dockerd):
    """image's verbs take their flags after the verb, as docker's; `image -a prune -f` pruned
    every unused image and `image --format T ls` listed without T (the image parser had an
    -a and a --format of its own, before the verb)."""
    assert cli(session_root, "tag", IMAGE, "fl/before:1").returncode == 0
    try:
        for args in (["image", "-a", "prune", "-f"], ["image", "--format", "{{.ID}}", "ls"],
                     ["image", "--all", "prune", "--force"]):
            d, u = dockerd(*args), cli(session_root, *args)
            assert d.returncode != 0 and u.returncode == 125 and u.stdout == b"" and len(u.stderr.splitlines()) == 1, \
                (args, u.returncode, u.stdout, u.stderr)
        assert cli(session_root, "image", "inspect", "fl/before:1").returncode == 0
        ids = cli(session_root, "image", "ls", "--format", "{{.ID}}", "fl/before").stdout.split()
        assert len(ids) == 1 and len(ids[0]) == 12
    finally:
        cli(session_root, "rmi", "fl/before:1")


def test_pull_and_push_quiet_print_the_name_as_docker(fresh_root, dockerd, registry):
    """pull -q prints the name it pulled, and push -q the name it pushed, normalized with
    their tag, as docker's CLI (pull -q printed the image's id, push -q nothing)."""
    ref = f"{registry.host}/test/img:1"
    try:
        for run in (dockerd, lambda *a, **kw: cli(fresh_root, *a, **kw)):
            p = run("pull", "-q", ref, timeout=120)
            assert (p.returncode, p.stdout) == (0, f"{ref}\n".encode()), (run, p.stderr)
            assert run("tag", ref, f"{registry.host}/test/fl-pushed").returncode == 0
            p = run("push", "-q", f"{registry.host}/test/fl-pushed", timeout=120)
            assert (p.returncode, p.stdout) == (0, f"{registry.host}/test/fl-pushed:latest\n".encode()), \
                (run, p.stderr)
    finally:
        dockerd("rmi", ref, f"{registry.host}/test/fl-pushed")


def test_load_quiet_still_says_what_it_loaded(session_root, engine, dockerd, tmp_path):
    """load -q leaves out the progress, not the lines that say what was loaded (dockerd
    writes them whatever -q says; dunnage printed nothing)."""
    tar = tmp_path / "busybox.tar"
    assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
    try:
        d = dockerd("load", "-q", "-i", str(tar), timeout=120)
        u = cli(session_root, "load", "-q", "-i", str(tar), timeout=120)
        assert d.returncode == 0 and (u.returncode, u.stdout) == (0, d.stdout), (d.stdout, u.stdout, u.stderr)
        assert u.stdout == f"Loaded image: {IMAGE}\n".encode()
    finally:
        dockerd("rmi", IMAGE)
    assert json.loads(cli(session_root, "image", "inspect", IMAGE).stdout)[0]["RepoTags"] == [IMAGE]


def test_bind_propagation_that_shares_mounts_is_refused(session_root, engine, tmp_path):
    """-v SRC:DST:rshared (shared, slave, rslave) and --mount's bind-propagation= were taken and
    ignored: the bind was private whatever they said, so a mount made on either side never
    reached the other. Refused in one line, exit 125, nothing made; private and rprivate
    (docker's default) are taken, and the bind is private in the container."""
    before = {c.id for c in engine.containers(all_=True)}
    for args in (["-v", f"{tmp_path}:/x:rshared"], ["-v", f"{tmp_path}:/x:ro,slave"],
                 ["--mount", f"type=bind,source={tmp_path},target=/x,bind-propagation=shared"],
                 ["--mount", f"type=bind,source={tmp_path},target=/x,bind-propagation=rslave"],
                 ["--mount", f"type=bind,source={tmp_path},target=/x,bind-propagation=bogus"]):
        for verb in ("run", "create"):
            p = cli(session_root, verb, "--network", "none", *args, IMAGE, "true")
            assert p.returncode == 125 and p.stdout == b"" and len(p.stderr.splitlines()) == 1, (args, p.stderr)
            assert b"propagation" in p.stderr, p.stderr
    assert {c.id for c in engine.containers(all_=True)} == before
    for args in (["-v", f"{tmp_path}:/x:rprivate"], ["-v", f"{tmp_path}:/x:private"],
                 ["--mount", f"type=bind,source={tmp_path},target=/x,bind-propagation=rprivate"]):
        p = cli(session_root, "run", "--rm", "--network", "none", *args, IMAGE, "grep", " /x ", "/proc/self/mountinfo",
                timeout=120)
        assert p.returncode == 0, (args, p.stderr)
        fields = p.stdout.decode().split(" - ")[0].split()[6:]  # (mountinfo's optional fields: shared:N, master:N)
        assert fields == [], (args, p.stdout)


def test_no_trunc_shows_whole_ids(session_root, engine, dockerd, tmp_path):
    """images, network ls and stats take --no-trunc as docker's: the whole ID (images' as
    sha256:HEX, the same as dockerd's for the same image); they refused it."""
    tar = tmp_path / "busybox.tar"
    assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
    try:
        dockerd.ok("load", "-q", "-i", str(tar), timeout=120)
        for args in (["images", "--no-trunc", "--format", "{{.ID}}", IMAGE], ["images", "-q", "--no-trunc", IMAGE],
                     ["image", "ls", "--no-trunc", "-q", IMAGE]):
            d, u = dockerd(*args), cli(session_root, *args)
            assert d.returncode == 0 and (u.returncode, u.stdout) == (0, d.stdout), (args, d.stdout, u.stdout, u.stderr)
        full = json.loads(cli(session_root, "image", "inspect", IMAGE).stdout)[0]["Id"]
        assert cli(session_root, "images", "--no-trunc", "-q", IMAGE).stdout.decode() == f"{full}\n"
        assert cli(session_root, "images", "-q", IMAGE).stdout.decode() == f"{full[7:19]}\n"
    finally:
        dockerd("rmi", IMAGE)
    try:
        assert cli(session_root, "network", "create", "fl-trunc").returncode == 0
        net = json.loads(cli(session_root, "network", "inspect", "fl-trunc").stdout)[0]["Id"]
        for run in (dockerd, lambda *a: cli(session_root, *a)):
            ids = run("network", "ls", "--no-trunc", "-q").stdout.decode().split()
            assert ids and all(len(i) == 64 for i in ids), (run, ids)
        assert net in cli(session_root, "network", "ls", "--no-trunc", "-q").stdout.decode().split()
        assert net[:12] in cli(session_root, "network", "ls", "-q").stdout.decode().split()
        p = cli(session_root, "run", "-d", "--name", "fl-stats", "--network", "none", IMAGE, "sleep", "60")
        assert p.returncode == 0, p.stderr
        cid = p.stdout.decode().strip()
        for flags, want in ((["--no-trunc"], cid), ([], cid[:12])):
            p = cli(session_root, "stats", "--no-stream", *flags, "--format", "{{.ID}}", "fl-stats")
            assert (p.returncode, p.stdout.decode()) == (0, f"{want}\n"), (flags, p.stdout, p.stderr)
    finally:
        cli(session_root, "rm", "-f", "fl-stats")
        cli(session_root, "network", "rm", "fl-trunc")


def test_exec_env_file_as_docker(session_root, engine, dockerd, tmp_path):
    """exec --env-file: the file's KEY=VALUE lines as run's, then -e over them (it was refused);
    a missing file is refused before anything runs."""
    tar = tmp_path / "busybox.tar"
    env = tmp_path / "env"
    env.write_text("# a comment\nA=from file\n  B=file's\nC=x y\n")
    assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
    runs = {"docker": dockerd, "dunnage": lambda *a, **kw: cli(session_root, *a, **kw)}
    try:
        dockerd.ok("load", "-q", "-i", str(tar), timeout=120)
        for run in runs.values():
            assert run("run", "-d", "--name", "fl-exec", "--network", "none", IMAGE, "sleep", "60").returncode == 0
        got = {}
        for name, run in runs.items():
            p = run("exec", "--env-file", str(env), "-e", "B=flag", "fl-exec", "sh", "-c", 'echo "$A|$B|$C"')
            q = run("exec", "--env-file", str(tmp_path / "missing"), "fl-exec", "touch", "/ran")
            got[name] = (p.returncode, p.stdout, q.returncode, q.stdout,
                         run("exec", "fl-exec", "test", "-e", "/ran").returncode)
        assert got["dunnage"] == got["docker"] == (0, b"from file|flag|x y\n", 1, b"", 1), got
    finally:
        for run in runs.values():
            run("rm", "-f", "fl-exec")
        dockerd("rmi", IMAGE)


def test_flags_whose_true_is_what_dunnage_does(session_root, engine, tmp_path):
    """--disable-content-trust (run, create, pull, push, build) and build's --rm and --force-rm
    ask for what dunnage always does (no signatures checked; RUN's containers removed, a
    failed one too): taken, bare or =true, where they were refused; =false asks for what it
    never does and is refused in one line, exit 125, nothing made."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN echo fl > /fl\n")
    before = set(cli(session_root, "ps", "-aq", "--no-trunc").stdout.split())
    p = cli(session_root, "run", "--rm", "--disable-content-trust", "--network", "none", IMAGE, "true")
    assert p.returncode == 0, p.stderr
    p = cli(session_root, "create", "--disable-content-trust=true", "--name", "fl-trust", IMAGE, "true")
    try:
        assert p.returncode == 0, p.stderr
    finally:
        cli(session_root, "rm", "-f", "fl-trust")
    p = cli(session_root, "build", "-q", "--rm", "--force-rm=true", "--disable-content-trust", "--network", "none",
            str(ctx), timeout=120)
    assert p.returncode == 0, p.stderr
    assert cli(session_root, "rmi", p.stdout.decode().strip()).returncode == 0
    (ctx / "Dockerfile").write_text(f"FROM {IMAGE}\nRUN exit 3\n")
    p = cli(session_root, "build", "--force-rm", "--network", "none", str(ctx), timeout=120)
    assert p.returncode != 0 and b"exit code: 3" in p.stderr, p.stderr
    assert set(cli(session_root, "ps", "-aq", "--no-trunc").stdout.split()) == before  # (the failed RUN's too)
    for args in (["run", "--disable-content-trust=false", IMAGE, "true"],
                 ["create", "--disable-content-trust=0", IMAGE, "true"],
                 ["pull", "--disable-content-trust=false", IMAGE], ["push", "--disable-content-trust=false", IMAGE],
                 ["build", "--disable-content-trust=false", str(ctx)], ["build", "--rm=false", str(ctx)],
                 ["build", "--force-rm=false", str(ctx)]):
        p = cli(session_root, *args)
        assert refused(p), (args, p.returncode, p.stdout, p.stderr)
    assert set(cli(session_root, "ps", "-aq", "--no-trunc").stdout.split()) == before


def test_compose_pull_quiet_prints_no_progress(fresh_root, registry, tmp_path):
    """compose pull -q pulls without a line of progress (it was taken and ignored)."""
    (tmp_path / "compose.yaml").write_text(f"services:\n  web:\n    image: {registry.host}/test/img:1\n")
    base = ["compose", "-f", str(tmp_path / "compose.yaml"), "-p", "flq", "pull"]
    p = cli(fresh_root, *base, "-q", timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b""), p.stderr
    assert cli(fresh_root, "image", "inspect", f"{registry.host}/test/img:1").returncode == 0
    p = cli(fresh_root, *base, timeout=120)
    assert p.returncode == 0 and b" web Pulled" in p.stderr, p.stderr


def test_inspect_type_as_docker(session_root, engine, dockerd):
    """inspect --type network and volume (refused: container and image only), and without
    --type a network or volume of that name, as docker's (containers, images, networks,
    volumes in turn); container inspect is of containers only (it found images too);
    a --type docker has no such value for is refused in its words."""
    runs = {"docker": dockerd, "dunnage": lambda *a: cli(session_root, *a)}
    try:
        for run in runs.values():
            assert run("network", "create", "fl-insp-net").returncode == 0
            assert run("volume", "create", "fl-insp-vol").returncode == 0
        for args in (["inspect", "--type", "network", "-f", "{{.Name}} {{.Driver}}", "fl-insp-net", "bridge"],
                     ["inspect", "--type", "volume", "-f", "{{.Name}} {{.Driver}}", "fl-insp-vol"],
                     ["inspect", "-f", "{{.Name}}", "fl-insp-net", "fl-insp-vol"],
                     ["inspect", "--type", "volume", "fl-insp-net"], ["inspect", "--type", "network", "fl-insp-vol"],
                     ["inspect", "--type", "bogus", "fl-insp-vol"], ["inspect", "fl-insp-none"],
                     ["container", "inspect", "fl-insp-vol"], ["image", "inspect", "fl-insp-vol"]):
            d, u = dockerd(*args), cli(session_root, *args)
            assert (u.returncode, u.stdout) == (d.returncode, d.stdout), (args, d.stdout, u.stdout, u.stderr)
            said = [ln.removeprefix("dunnage: ").removeprefix("Error: ") for ln in u.stderr.decode().splitlines()]
            assert said == [ln.removeprefix("Error: ") for ln in d.stderr.decode().splitlines()], (args, d.stderr, u.stderr)
        p = cli(session_root, "container", "inspect", IMAGE)
        assert p.returncode == 1 and p.stderr == f"dunnage: Error: No such container: {IMAGE}\n".encode()
    finally:
        for run in runs.values():
            run("network", "rm", "fl-insp-net")
            run("volume", "rm", "fl-insp-vol")


def test_a_format_of_ones_own_wins_over_quiet(session_root, engine, dockerd, tmp_path):
    """-q with a --format template of one's own prints the template, as docker's formatter
    (-q replaces only the default table); -q printed the IDs whatever --format said."""
    tar = tmp_path / "busybox.tar"
    assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
    runs = {"docker": dockerd, "dunnage": lambda *a: cli(session_root, *a)}
    try:
        dockerd.ok("load", "-q", "-i", str(tar), timeout=120)
        for run in runs.values():
            assert run("volume", "create", "fl-q-vol").returncode == 0
            assert run("network", "create", "fl-q-net").returncode == 0
            assert run("create", "--name", "fl-q-ctr", "--network", "none", IMAGE, "true").returncode == 0
        for args in (["volume", "ls", "-q", "--format", "{{.Driver}}-{{.Name}}", "-f", "name=fl-q"],
                     ["volume", "ls", "-q", "--format", "table", "-f", "name=fl-q"],
                     ["volume", "ls", "-q", "--format", "table {{.Name}}", "-f", "name=fl-q"],
                     ["network", "ls", "-q", "--format", "{{.Name}}", "-f", "name=fl-q"],
                     ["ps", "-aq", "--format", "{{.Names}} {{.Image}}", "-f", "name=fl-q"],
                     ["container", "ls", "-aq", "--format", "table {{.Names}}", "-f", "name=fl-q"],
                     ["images", "-q", "--format", "{{.Repository}}:{{.Tag}}", IMAGE],
                     ["history", "-q", "--format", "{{.CreatedBy}}", IMAGE]):
            d, u = dockerd(*args), cli(session_root, *args)
            assert d.returncode == 0 and (u.returncode, u.stdout) == (0, d.stdout), (args, d.stdout, u.stdout, u.stderr)
    finally:
        for run in runs.values():
            run("rm", "-f", "fl-q-ctr")
            run("volume", "rm", "fl-q-vol")
            run("network", "rm", "fl-q-net")
        dockerd("rmi", IMAGE)


def test_rmi_no_prune_as_docker(session_root, engine, dockerd, tmp_path):
    """rmi --no-prune (keep untagged parents: dunnage's images have none) is taken and does
    what dockerd does with an image of no parents (it was refused)."""
    tar = tmp_path / "busybox.tar"
    assert cli(session_root, "save", "-o", str(tar), IMAGE, timeout=120).returncode == 0
    runs = {"docker": dockerd, "dunnage": lambda *a: cli(session_root, *a)}
    try:
        dockerd.ok("load", "-q", "-i", str(tar), timeout=120)
        got = {}
        for name, run in runs.items():
            assert run("tag", IMAGE, "fl/no-prune:1").returncode == 0
            p = run("rmi", "--no-prune", "fl/no-prune:1")
            got[name] = (p.returncode, p.stdout, run("image", "inspect", IMAGE).returncode)
        assert got["dunnage"] == got["docker"] == (0, b"Untagged: fl/no-prune:1\n", 0), got
    finally:
        for run in runs.values():
            run("rmi", "fl/no-prune:1")
        dockerd("rmi", IMAGE)
