"""One error type (issue 17): DunnageError carries docker's exit code and the Engine
API's status; each concept's error class is one of moby's errdefs kinds, raised where
the fault is found and never translated into another on its way up."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dunnage.core
from dunnage.api.errors import from_engine
from dunnage.core import EngineError
from dunnage.core.cgroups import CgroupError
from dunnage.core.errors import (KINDS, Conflict, DunnageError, Forbidden, InvalidParameter, NotFound, NotModified,
                                 System, exit_code_of, os_kind, run_failure)
from dunnage.core.images.oci import FormatError, ImageError, parse_platform
from dunnage.core.images.reference import parse_reference
from dunnage.core.images.unpack import LayerError
from dunnage.core.net.config import NetworkError
from dunnage.core.net.firewall import FirewallError
from dunnage.core.net.netlink import NetlinkError
from dunnage.core.net.ports import PortError, parse_publish
from dunnage.core.runtime.capabilities import CapabilityError, effective_set
from dunnage.core.runtime.seccomp import SeccompError
from dunnage.core.runtime.users import UserError
from dunnage.core.store import StoreError
from dunnage.core.units import UnitError, parse_size
from dunnage.core.volumes import VolumeError

ROOT = Path(dunnage.core.__file__).resolve().parents[1]


@pytest.mark.parametrize("kind,status", [(NotFound, 404), (Conflict, 409), (InvalidParameter, 400),
                                         (NotModified, 304), (Forbidden, 403), (System, 500)])
def test_kinds_carry_moby_statuses_and_docker_exit_code(kind, status):
    e = kind("m")
    assert (e.status, e.exit_code, e.code, str(e)) == (status, 125, 125, "m")
    assert isinstance(e, DunnageError) and kind in KINDS
    assert kind("m", 1).code == 1 and kind("m", status=418).status == 418


def test_engine_error_is_the_one_type():
    assert EngineError is DunnageError
    e = EngineError("plain")
    assert (e.code, e.status) == (125, None)  # unclassified: the API infers the status from the message
    e.code = 1
    assert e.exit_code == 1


@pytest.mark.parametrize("cls,kind,code", [
    (UnitError, InvalidParameter, 125), (PortError, InvalidParameter, 125), (CapabilityError, InvalidParameter, 125),
    (SeccompError, InvalidParameter, 125), (UserError, InvalidParameter, 126), (FormatError, InvalidParameter, 125),
    (CgroupError, System, 125), (FirewallError, System, 125), (NetlinkError, System, 125), (StoreError, System, 125),
    (NetworkError, DunnageError, 1), (VolumeError, DunnageError, 125), (ImageError, DunnageError, 125),
    (LayerError, InvalidParameter, 125),
])
def test_each_concept_error_is_a_kind(cls, kind, code):
    e = cls("m")
    assert isinstance(e, kind) and isinstance(e, DunnageError) and e.code == code
    if kind is not DunnageError and kind is not ImageError:
        assert e.status == kind.status


def test_value_errors_stay_value_errors():
    for cls in (UnitError, CapabilityError, SeccompError, UserError, FormatError):
        assert issubclass(cls, ValueError)


def test_faults_are_raised_with_their_kind_where_found():
    with pytest.raises(InvalidParameter, match="invalid size") as e:
        parse_size("lots")
    assert (e.value.code, e.value.status) == (125, 400)
    with pytest.raises(ImageError, match="invalid reference format") as e:
        parse_reference("UPPER//case")
    assert e.value.status == 400
    with pytest.raises(FormatError) as e:
        parse_platform("no/such/platform/at/all")
    assert e.value.status == 400
    with pytest.raises(PortError, match="invalid") as e:
        parse_publish("99999:80")
    assert e.value.status == 400
    with pytest.raises(CapabilityError, match='invalid capability: unknown capability: "CAP_NOPE"'):
        effective_set(["NOPE"], [], False)


def test_image_faults_are_raised_with_their_kind(tmp_path):
    """A hostile layer is the request's fault (400), an index without this platform
    docker's NotFound, a registry that does not answer the host's side (500)."""
    import io
    import json
    import tarfile

    from dunnage.core.images.oci import pick_from_index
    from dunnage.core.images.reference import Reference
    from dunnage.core.images.registry import Client
    from dunnage.core.images.unpack import unpack_layer
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        tf.addfile(tarfile.TarInfo("../escape"), io.BytesIO(b""))
    buf.seek(0)
    with pytest.raises(LayerError, match="points outside the layer") as e:
        unpack_layer(buf, tmp_path / "layer")
    assert (e.value.status, e.value.code) == (400, 125) and not (tmp_path / "layer").exists()
    index = json.dumps({"manifests": [{"digest": "sha256:" + "a" * 64,
                                       "platform": {"os": "linux", "architecture": "s390x"}}]}).encode()
    with pytest.raises(FormatError, match="no image for the platform linux/arm64") as e:
        pick_from_index(index, ("linux", "arm64", ""))
    assert e.value.status == 404
    with Client(Reference("127.0.0.1:1", "x/y", "latest", None), None) as cl:
        with pytest.raises(ImageError, match="cannot connect") as e:
            cl.request("")
    assert e.value.status == 500


def test_exit_code_of_sets_the_code_on_the_same_error():
    raised = NotFound("No such image: x")
    with pytest.raises(NotFound) as e:
        with exit_code_of(1):
            raise raised
    assert e.value is raised and (e.value.code, e.value.status, str(e.value)) == (1, 404, "No such image: x")
    with pytest.raises(KeyError):  # not ours: left alone
        with exit_code_of(1):
            raise KeyError("k")


def test_the_api_answers_with_the_status_raised():
    assert from_engine(Conflict("Bind for 0.0.0.0:80 failed: port is already allocated")).status == 409
    assert from_engine(System("No such thing, but the kernel failed")).status == 500
    assert from_engine(ImageError("No such image: x", status=404)).status == 404
    assert from_engine(EngineError("No such container: x", 1)).status == 404  # unclassified: inferred


def _translations(path: Path) -> list[str]:
    """`except XError as e: raise YError(str(e))`: an error re-wrapped unchanged into another type."""
    out = []
    for h in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(h, ast.ExceptHandler) and h.name):
            continue
        for r in ast.walk(h):
            if isinstance(r, ast.Raise) and isinstance(r.exc, ast.Call) and r.exc.args:
                a = r.exc.args[0]
                if (isinstance(a, ast.Call) and isinstance(a.func, ast.Name) and a.func.id == "str"
                        and len(a.args) == 1 and isinstance(a.args[0], ast.Name) and a.args[0].id == h.name):
                    caught = ast.unparse(h.type) if h.type else "*"
                    if "OSError" not in caught and "Exception" != caught:
                        out.append(f"{path.relative_to(ROOT)}:{r.lineno} {caught} -> {ast.unparse(r.exc.func)}")
    return out


def test_no_error_is_translated_into_another_unchanged():
    files = sorted((ROOT / "core").rglob("*.py")) + sorted((ROOT / "fuse").rglob("*.py"))
    found = [t for p in files for t in _translations(p)]
    assert found == [], "re-wrapped errors:\n" + "\n".join(found)


def _unclassified(path: Path) -> list[str]:
    """`EngineError(...)`/`DunnageError(...)` calls in PATH (and of the concept errors
    that are no kind themselves, NetworkError, VolumeError and ImageError) that give no
    status: the Engine API would have to guess theirs from the message."""
    out = []
    for n in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(n, ast.Call):
            continue
        name = n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", None)
        if name in ("EngineError", "DunnageError", "NetworkError", "VolumeError", "ImageError") and len(n.args) < 3 \
                and not any(k.arg == "status" for k in n.keywords):
            out.append(f"{path.relative_to(ROOT)}:{n.lineno} {ast.unparse(n)[:80]}")
    return out


def test_every_engine_error_is_raised_with_its_kind():
    """New raises name their kind (NotFound, Conflict, InvalidParameter, ...) or a status:
    api/errors.py's guess from the words is only a fallback for what predates this."""
    files = sorted((ROOT / "core").rglob("*.py")) + sorted((ROOT / "api").rglob("*.py")) + [ROOT / "tui" / "cli.py"]
    found = [u for p in files if p.name != "errors.py" or p.parent.name != "core" for u in _unclassified(p)]
    assert found == [], "raised without a kind:\n" + "\n".join(found)


@pytest.mark.parametrize("errno_name,kind", [("ENOENT", NotFound), ("ENOTDIR", InvalidParameter),
                                             ("ELOOP", System), ("EIO", System)])
def test_os_kind(errno_name, kind):
    import errno
    assert os_kind(OSError(getattr(errno, errno_name), "x")) is kind


@pytest.mark.parametrize("code,status", [(126, 400), (127, 400), (1, 500), (125, 500)])
def test_run_failure_keeps_code_and_message(code, status):
    err = run_failure("exec: \"nosuch\": executable file not found in $PATH", code)
    assert (err.code, err.status, str(err)) == (code, status, "exec: \"nosuch\": executable file not found in $PATH")
