"""The grammars of run/create's and commit's flags, as docker reads them: --ulimit
(go-units' ParseUlimit), commit/import -c (Dockerfile instructions), -v, --mount and
--tmpfs, --label and --env-file (docker/cli's opts)."""
from __future__ import annotations

import os
import resource

import pytest

from dunnage.core.errors import EngineError
from dunnage.core.spec import labels as _labels, parse_ulimit
from dunnage.core.runtime.process import ULIMITS, rlimit
from dunnage.core.volumes import VolumeError, parse_mount_flag, parse_tmpfs_flag, parse_volume_flag
from dunnage.core.images.changes import parse_changes
from dunnage.tui.commands.run import env_files


# ------------------------------------------------------------------ --ulimit
def _unlimited_here() -> str:
    """A limit whose hard value this host leaves unlimited (so -1 may be asked for)."""
    for name in sorted(ULIMITS):
        if resource.getrlimit(rlimit(name))[1] == resource.RLIM_INFINITY:
            return name
    raise AssertionError("no unlimited resource on this host")


def test_every_ulimit_name_is_a_resource_here():
    """locks is RLIMIT_LOCKS, which Python's resource module does not name."""
    for name in ULIMITS:
        assert parse_ulimit(f"{name}=0")["Name"] == name
    assert rlimit("locks") == 10 and rlimit("nofile") == resource.RLIMIT_NOFILE


def test_ulimits_as_go_units_parses_them():
    assert parse_ulimit("nofile=512:1024") == {"Name": "nofile", "Soft": 512, "Hard": 1024}
    assert parse_ulimit("nofile=1024") == {"Name": "nofile", "Soft": 1024, "Hard": 1024}
    name = _unlimited_here()
    assert parse_ulimit(f"{name}=2:4") == {"Name": name, "Soft": 2, "Hard": 4}
    assert parse_ulimit(f"{name}=-1") == {"Name": name, "Soft": -1, "Hard": -1}
    assert parse_ulimit(f"{name}=1024:-1") == {"Name": name, "Soft": 1024, "Hard": -1}
    assert parse_ulimit(f"{name}=infinity:infinity") == {"Name": name, "Soft": -1, "Hard": -1}


@pytest.mark.parametrize("arg, msg", [
    ("notarealtype=1024:1024", "invalid ulimit argument"),
    ("nofile:1024:1024", "invalid ulimit argument"),
    ("nofile", "invalid ulimit argument"),
    ("nofile=", "invalid ulimit argument"),
    ("nofile=:", "invalid ulimit argument"),
    ("nofile=:1024", "invalid ulimit argument"),
    ("nofile=1024:", "invalid ulimit argument"),
    ("nofile=asdf", "invalid ulimit argument"),
    ("nofile=1024:asdf", "invalid ulimit argument"),
    ("nofile=1024:1:50", "invalid ulimit argument"),
    ("nofile=1024:1", "soft limit must be less than or equal to hard limit: 1024 > 1"),
    ("nofile=-1:1024", r"soft: -1 \(unlimited\), hard: 1024"),
])
def test_ulimits_docker_refuses(arg, msg):
    with pytest.raises(EngineError, match=msg):
        parse_ulimit(arg)


def test_a_hard_limit_above_the_hosts_is_refused():
    res = next((n for n in sorted(ULIMITS) if resource.getrlimit(rlimit(n))[1] != resource.RLIM_INFINITY), None)
    assert res is not None, "every limit of this host is unlimited"
    host = resource.getrlimit(rlimit(res))[1]
    for arg in (f"{res}=1:{host + 1}", f"{res}=-1", f"{res}=1:infinity"):
        with pytest.raises(EngineError, match="is above this host's"):
            parse_ulimit(arg)


# ------------------------------------------------------------------ commit -c / import -c
def test_changes_are_dockerfile_instructions():
    assert parse_changes(['CMD ["cat", "/f"]', "ENTRYPOINT /bin/run me", "WORKDIR /app", "USER 1:2",
                          "STOPSIGNAL SIGINT", "EXPOSE 80 53/udp", 'VOLUME ["/data", "/logs"]']) == {
        "Cmd": ["cat", "/f"], "Entrypoint": ["/bin/sh", "-c", "/bin/run me"], "WorkingDir": "/app", "User": "1:2",
        "StopSignal": "SIGINT", "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Volumes": {"/data": {}, "/logs": {}}}
    assert parse_changes(["cmd echo hi"]) == {"Cmd": ["/bin/sh", "-c", "echo hi"]}  # instructions in any case
    assert parse_changes(None) == {}


def test_env_and_label_changes_take_several_pairs_and_quotes():
    assert parse_changes(["ENV A=1 B=\"x y\" C=", "ENV D old form value"])["Env"] == \
        ["A=1", "B=x y", "C=", "D=old form value"]
    assert parse_changes(['LABEL a=1 b="two words"', "LABEL c=3", "LABEL d four"])["Labels"] == \
        {"a": "1", "b": "two words", "c": "3", "d": "four"}


@pytest.mark.parametrize("change, msg", [
    ("FROM busybox", "FROM is not a valid change command"),
    ("RUN true", "RUN is not a valid change command"),
    ('CMD ["unclosed"', "invalid JSON"),
    ("ENV A", "ENV must have two arguments"),
    ("ENV A=1 B", "NAME=VALUE pairs expected"),
    ('LABEL a="unclosed', "LABEL"),
])
def test_changes_docker_refuses(change, msg):
    with pytest.raises(EngineError, match=msg):
        parse_changes([change])


# ------------------------------------------------------------------ -v
@pytest.mark.parametrize("spec, want", [
    ("/data", {"Type": "volume", "Name": None, "Target": "/data", "ReadOnly": False, "Anonymous": True}),
    ("/host:/ctr", {"Type": "bind", "Source": "/host", "Target": "/ctr", "ReadOnly": False, "CreateSource": True}),
    ("/host/:/ctr/sub/:ro", {"Type": "bind", "Source": "/host", "Target": "/ctr/sub", "ReadOnly": True,
                             "CreateSource": True}),
    ("/host:/ctr:rw,z", {"Type": "bind", "Source": "/host", "Target": "/ctr", "ReadOnly": False, "CreateSource": True}),
    ("/host:/ctr:ro,rprivate", {"Type": "bind", "Source": "/host", "Target": "/ctr", "ReadOnly": True,
                                "CreateSource": True}),
    ("vol:/ctr", {"Type": "volume", "Name": "vol", "Target": "/ctr", "ReadOnly": False, "NoCopy": False}),
    ("my-vol.1_x:/ctr:ro,nocopy", {"Type": "volume", "Name": "my-vol.1_x", "Target": "/ctr", "ReadOnly": True,
                                   "NoCopy": True}),
])
def test_volume_flags(spec, want):
    assert parse_volume_flag(spec) == want


@pytest.mark.parametrize("spec", [
    "relative", "/host:relative", "/host:/", "/", "vol:ro", "/a:/b:c:d", "/host:/ctr:xyz", "/host:/ctr:ro,bad",
    "bad/name:/ctr", "-vol:/ctr", "a:", "/host:/ctr:ro,rslave", "/host:/ctr:rshared",  # (propagation: private only)
])
def test_volume_flags_docker_refuses(spec):
    with pytest.raises(VolumeError):
        parse_volume_flag(spec)


# ------------------------------------------------------------------ --mount
def test_mount_flags(tmp_path):
    src = str(tmp_path)
    assert parse_mount_flag(f"type=bind,source={src},target=/ctr,readonly") == \
        {"Type": "bind", "Source": src, "Target": "/ctr", "ReadOnly": True}
    assert parse_mount_flag(f"type=bind,src={src}/,dst=/ctr/,ro=false,bind-propagation=rprivate") == \
        {"Type": "bind", "Source": src, "Target": "/ctr", "ReadOnly": False}
    assert parse_mount_flag(f"type=bind,src={src},destination=/c,readonly=true")["ReadOnly"] is True
    assert parse_mount_flag("target=/data") == \
        {"Type": "volume", "Name": None, "Target": "/data", "ReadOnly": False, "Anonymous": True, "NoCopy": False}
    assert parse_mount_flag("type=volume,source=v1,target=/data,volume-nocopy=true,ro=1") == \
        {"Type": "volume", "Name": "v1", "Target": "/data", "ReadOnly": True, "Anonymous": False, "NoCopy": True}
    assert parse_mount_flag("type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1770") == \
        {"Type": "tmpfs", "Target": "/t", "ReadOnly": False, "Options": [f"size={64 << 20}", "mode=1770"]}


@pytest.mark.parametrize("spec, msg", [
    ("type=bind,target=/ctr", "bind source must be an absolute path"),
    ("type=bind,source=rel,target=/ctr", "bind source must be an absolute path"),
    ("type=bind,source=/nonexistent-dunnage-source,target=/ctr", "bind source path does not exist"),
    ("type=volume,source=v", "target must be an absolute path"),
    ("type=volume,source=v,target=rel", "target must be an absolute path"),
    ("type=volume,source=v,target=/", "target must be an absolute path"),
    ("type=volume,source=bad/name,target=/d", "is not a volume name"),
    ("type=nfs,target=/d", "type must be bind, volume or tmpfs"),
    ("type=tmpfs,source=x,target=/t", "tmpfs takes no source"),
    ("type=tmpfs,target=/t,tmpfs-size=lots", "invalid size"),
    ("type=tmpfs,target=/t,tmpfs-mode=999", "tmpfs-mode must be octal"),
    ("type=volume,target=/d,colour=blue", "unknown field colour"),
    ("type=volume,target=/d,justaword", "key=value expected"),
])
def test_mount_flags_docker_refuses(spec, msg):
    with pytest.raises(VolumeError, match=msg):
        parse_mount_flag(spec)


# ------------------------------------------------------------------ --tmpfs
def test_tmpfs_flags():
    assert parse_tmpfs_flag("/run") == {"Type": "tmpfs", "Target": "/run", "ReadOnly": False, "Options": []}
    assert parse_tmpfs_flag("/run:rw,noexec,nosuid,size=65536k,mode=1777,uid=1,gid=2,nr_inodes=100") == \
        {"Type": "tmpfs", "Target": "/run", "ReadOnly": False,
         "Options": ["noexec", "nosuid", f"size={64 << 20}", "mode=1777", "uid=1", "gid=2", "nr_inodes=100"]}
    assert parse_tmpfs_flag("/cache/:ro")["ReadOnly"] is True and parse_tmpfs_flag("/cache/:ro")["Target"] == "/cache"
    for bad in ("run", "/", "/run:size=lots", "/run:bogus", "/run:mode=rwx", "/run:uid=-1"):
        with pytest.raises(VolumeError):
            parse_tmpfs_flag(bad)


# ------------------------------------------------------------------ --label, --env-file
def test_labels():
    assert _labels(["a=1", "b", "c=x=y", "d="]) == {"a": "1", "b": "", "c": "x=y", "d": ""}
    assert _labels(None) == {}
    with pytest.raises(EngineError, match='invalid label: "=v"'):
        _labels(["=v"])


def test_env_files_as_docker_reads_them(tmp_path):
    f = tmp_path / "vars.env"
    f.write_bytes("\ufeffA=1\n# a comment\n\n   B=two words  \n  # indented comment\nC=\"quoted\"\nD=\nE\n"
                  "F=x=y\r\n".encode())
    g = tmp_path / "more.env"
    g.write_text("A=2\n")
    # values as written (quotes and trailing blanks kept); a bare name is taken from the environment later
    assert env_files([str(f), str(g)]) == ["A=1", "B=two words  ", 'C="quoted"', "D=", "E", "F=x=y", "A=2"]


@pytest.mark.parametrize("text, msg", [
    ("A B=1\n", "variable 'A B' contains whitespaces"),
    ("=1\n", "no variable name on line '=1'"),
    ("A\tB\n", "contains whitespaces"),
])
def test_env_files_docker_refuses(tmp_path, text, msg):
    f = tmp_path / "bad.env"
    f.write_text(text)
    with pytest.raises(EngineError, match=msg):
        env_files([str(f)])


def test_env_file_that_cannot_be_read(tmp_path):
    with pytest.raises(EngineError, match="no such file or directory"):
        env_files([str(tmp_path / "missing.env")])
    bad = tmp_path / "latin1.env"
    bad.write_bytes(b"A=caf\xe9\n")
    with pytest.raises(EngineError, match="invalid utf8"):
        env_files([str(bad)])
    assert os.path.exists(bad)
