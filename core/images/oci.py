"""OCI and Docker image formats: media types, digests, manifests, indexes, configs.

Nothing here trusts its input: every document is parsed strictly and every
blob is checked against its digest before use."""
from __future__ import annotations

import hashlib
import json
import os
import re
from typing import Any, Optional

from ..errors import DunnageError, InvalidParameter

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar": "none",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
}
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)


def layer_media_type(compression: str) -> str:
    """The OCI media type of a layer blob compressed with COMPRESSION (gzip, zstd or none)."""
    return {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
            "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"}.get(compression, "application/vnd.oci.image.layer.v1.tar")
MANIFEST_TYPES = (MT_OCI_MANIFEST, MT_DOCKER_MANIFEST)

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class ImageError(DunnageError):
    """A fault with an image: its name, the store, an archive or a registry (defined
    here, at the bottom of the images package; reference.py and store.py re-export it).
    Its status is said where it is raised (404 for no such image, 400 for a bad name)."""


class FormatError(ImageError, InvalidParameter, ValueError):
    """An image document (manifest, index, config, digest, platform) that is not one."""


def check_digest(d: Any) -> str:
    if not isinstance(d, str) or not _DIGEST.match(d):
        raise FormatError(f"invalid digest: {d!r}")
    return d


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def verify(data: bytes, digest: str) -> bytes:
    got = digest_of(data)
    if got != digest:
        raise FormatError(f"digest mismatch: expected {digest}, got {got}")
    return data


def parse_json(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"malformed {what}: {e}") from None
    if not isinstance(doc, dict):
        raise FormatError(f"malformed {what}: not a JSON object")
    return doc


def media_type(doc: dict, fallback: str = "") -> str:
    mt = doc.get("mediaType") or fallback
    if not mt:
        if "manifests" in doc:
            return MT_OCI_INDEX
        if "layers" in doc and "config" in doc:
            return MT_OCI_MANIFEST
    return mt


def descriptor(d: Any, what: str) -> dict:
    if not isinstance(d, dict) or "digest" not in d:
        raise FormatError(f"malformed {what} descriptor")
    check_digest(d["digest"])
    if "size" in d and (not isinstance(d["size"], int) or d["size"] < 0):
        raise FormatError(f"malformed {what} descriptor: bad size")
    return d


def parse_manifest(data: bytes) -> dict:
    """An image manifest: {'config': descriptor, 'layers': [descriptor, ...]}."""
    doc = parse_json(data, "manifest")
    mt = media_type(doc)
    if mt not in MANIFEST_TYPES:
        raise FormatError(f"unsupported manifest media type: {mt!r}")
    if doc.get("schemaVersion") != 2:
        raise FormatError("unsupported manifest schema version")
    descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise FormatError("malformed manifest: no layers")
    for layer in layers:
        descriptor(layer, "layer")
        if layer.get("mediaType") not in LAYER_TYPES:
            raise FormatError(f"unsupported layer media type: {layer.get('mediaType')!r}")
    return doc


def host_platform() -> tuple[str, str, str]:
    m = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)
    variant = "v8" if arch == "arm64" else ("v7" if arch == "arm" else "")
    return "linux", arch, variant


def parse_platform(text: str) -> tuple[str, str, str]:
    """docker's --platform: os/arch[/variant] ("linux/arm64", "linux/arm/v7")."""
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise FormatError(f'invalid platform "{text}": want os/arch[/variant], as linux/arm64')
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(parts[1], parts[1])
    variant = parts[2] if len(parts) == 3 else ("v8" if arch == "arm64" else "")
    return parts[0], arch, variant


def pick_from_index(data: bytes, platform: Optional[tuple[str, str, str]] = None) -> dict:
    """The index entry for PLATFORM (this machine's when not given)."""
    doc = parse_json(data, "image index")
    ms = doc.get("manifests")
    if not isinstance(ms, list) or not ms:
        raise FormatError("malformed image index: no manifests")
    os_, arch, variant = platform or host_platform()
    best = None
    for m in ms:
        descriptor(m, "manifest")
        p = m.get("platform") or {}
        if p.get("os") == os_ and p.get("architecture") == arch:
            if not variant or p.get("variant") in (None, "", variant):
                return m
            best = best or m
    if best:
        return best
    raise FormatError(f"no image for the platform {os_}/{arch}{'/' + variant if variant else ''} in the index",
                      status=404)  # docker's "no matching manifest": NotFound


def parse_config(data: bytes) -> dict:
    doc = parse_json(data, "image config")
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict) or not isinstance(rootfs.get("diff_ids"), list):
        raise FormatError("malformed image config: no rootfs.diff_ids")
    for d in rootfs["diff_ids"]:
        check_digest(d)
    if "config" in doc and doc["config"] is not None and not isinstance(doc["config"], dict):
        raise FormatError("malformed image config: config is not an object")
    return doc


def chain_ids(diff_ids: list[str]) -> list[str]:
    """OCI ChainID: the identity of a layer together with everything below it."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else digest_of(f"{out[-1]} {d}".encode()))
    return out
