"""Property-based fuzzing (hypothesis) of everything that parses untrusted input:
manifests, indexes, configs, references, layer tarballs and image archives.
Any input either parses or is refused with the module's own error; nothing
else escapes, and a refused layer leaves nothing behind."""
from __future__ import annotations

import io
import json
import tarfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunnage.core.images import oci
from dunnage.core.images.registry import parse_reference
from dunnage.core.images.store import ImageError
from dunnage.core.images.unpack import LayerError, unpack_layer

pytestmark = pytest.mark.timeout(300)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25)

DIGEST = "sha256:" + "a" * 64
doc_like = st.fixed_dictionaries({}, optional={
    "schemaVersion": st.sampled_from([1, 2, "2", None]),
    "mediaType": st.sampled_from([oci.MT_OCI_MANIFEST, oci.MT_DOCKER_MANIFEST, oci.MT_OCI_INDEX, "text/plain", 3]),
    "config": st.one_of(json_values, st.fixed_dictionaries({"digest": st.sampled_from([DIGEST, "sha256:xyz", 5])})),
    "layers": st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"digest": st.sampled_from([DIGEST, "md5:0", None]),
         "mediaType": st.sampled_from(list(oci.LAYER_TYPES) + ["application/x-evil"])},
        optional={"size": st.one_of(st.integers(), st.text())}), max_size=3)),
    "manifests": st.one_of(json_values, st.lists(st.fixed_dictionaries(
        {"digest": st.sampled_from([DIGEST, "bad"])},
        optional={"platform": st.fixed_dictionaries({}, optional={"os": st.sampled_from(["linux", "windows"]),
                                                                  "architecture": st.sampled_from(["amd64", "arm64", "s390x"])})}),
        max_size=3)),
    "rootfs": st.one_of(json_values, st.fixed_dictionaries({"diff_ids": st.lists(st.sampled_from([DIGEST, "x"]), max_size=3)})),
})


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.binary(max_size=200), doc_like.map(lambda d: json.dumps(d).encode()),
                 json_values.map(lambda d: json.dumps(d).encode())))
def test_document_parsers_only_raise_format_errors(data):
    for parse in (oci.parse_manifest, oci.parse_config, oci.pick_from_index):
        try:
            parse(data)
        except oci.FormatError:
            pass


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_reference_parser(s):
    try:
        r = parse_reference(s)
    except ImageError:
        return
    assert r.repository and (r.tag or r.digest)


def _sample_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("etc/passwd", b"root:x:0:0::/:/bin/sh\n"), ("bin/tool", b"\x7fELF" + b"x" * 600)):
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        ti = tarfile.TarInfo("bin/link")
        ti.type, ti.linkname = tarfile.LNKTYPE, "bin/tool"
        tf.addfile(ti)
    return buf.getvalue()


SAMPLE = _sample_tar()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, len(SAMPLE) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.integers(0, len(SAMPLE)))
def test_mutated_layers_unpack_or_are_refused_cleanly(tmp_path, flips, cut):
    data = bytearray(SAMPLE)
    for pos, val in flips:
        data[pos] = val
    data = bytes(data[:cut] if cut else data)
    dest = tmp_path / f"layer-{abs(hash((tuple(flips), cut)))}"
    try:
        diff_id, _ = unpack_layer(io.BytesIO(data), dest)
    except LayerError:
        assert not dest.exists()  # nothing half-unpacked is left
        return
    assert diff_id == oci.digest_of(data)
    for p in dest.rglob("*"):
        assert str(p.resolve()).startswith(str(dest.resolve()))  # nothing outside the layer


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["manifest.json", "index.json", "oci-layout", "blobs/sha256/" + "a" * 64,
                                        "x.json", "l/layer.tar"]),
                       st.one_of(st.binary(max_size=64), doc_like.map(lambda d: json.dumps(d).encode()),
                                 st.just(json.dumps([{"Config": "x.json", "RepoTags": ["a:b"], "Layers": ["l/layer.tar"]}]).encode())),
                       min_size=1, max_size=6))
def test_archive_loader_refuses_junk_cleanly(tmp_path, files):
    from dunnage.core.images.archive import load
    from dunnage.core.images.store import ImageStore
    from dunnage.core.store import Store
    root = tmp_path / f"store-{abs(hash(tuple(sorted(files))))}"
    store = ImageStore(Store(root))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    try:
        load(store, buf)
    except ImageError:
        pass
    assert list((root / "tmp").iterdir()) == []
    assert list((root / "layers").iterdir()) == [] or store.list()
