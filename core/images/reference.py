"""Image references: the one parser of image names, docker's ParseNormalizedNamed.

Pull and push need the registry, the repository on it, a tag and a digest; the
local store keys its images by the familiar name and a tag (`busybox:latest`,
what `docker images` shows, for docker.io/library/busybox:latest).  Both read a
name here, so a name the store takes is one a registry would take, and the
other way round."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from . import oci
from .oci import ImageError

DEFAULT_REGISTRY = "docker.io"
NAME_MAX = 255


@dataclass
class Reference:
    registry: str
    repository: str
    tag: Optional[str]
    digest: Optional[str]

    @property
    def familiar(self) -> str:
        """The name as docker shows it: docker.io/ dropped, and library/ before a single
        component (docker.io/library/foo/bar is library/foo/bar, not foo/bar's)."""
        if self.registry == DEFAULT_REGISTRY:
            rest = self.repository.removeprefix("library/")
            return self.repository if "/" in rest else rest
        return f"{self.registry}/{self.repository}"

    @property
    def api_host(self) -> str:
        return "registry-1.docker.io" if self.registry == DEFAULT_REGISTRY else self.registry


_NAME = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?")
_TAG = re.compile(r"[\w][\w.-]{0,127}")


def parse_reference(ref: str) -> Reference:
    """docker's rules (its ParseNormalizedNamed): 'busybox' and 'docker.io/busybox' are
    docker.io/library/busybox:latest; a first component with a dot, a colon or a capital
    letter, or 'localhost', names a registry, which must be a host name, an IPv4 or a
    bracketed IPv6 address, with a port or not; the whole name is at most 255 characters."""
    if re.fullmatch(r"[a-f0-9]{64}", ref):  # an image id, not a name
        raise ImageError(f'invalid reference format: "{ref}" (a 64-byte hexadecimal string is not a repository name)',
                         status=400)
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
        try:
            oci.check_digest(digest)
        except oci.FormatError:
            raise ImageError(f'invalid reference format: "{ref}"', status=400) from None
    tag = None
    slash, colon = name.rfind("/"), name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise ImageError(f'invalid reference format: "{ref}"', status=400)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, repo = first, rest
        if not _DOMAIN.fullmatch(registry):
            raise ImageError(f'invalid reference format: "{ref}"', status=400)
    else:
        registry, repo = DEFAULT_REGISTRY, name
    if registry == DEFAULT_REGISTRY and "/" not in repo:
        repo = "library/" + repo
    if not _NAME.match(repo):
        raise ImageError(f'invalid reference format: "{ref}"', status=400)
    if len(registry) + 1 + len(repo) > NAME_MAX:
        raise ImageError(f'invalid reference format: "{ref}": repository name must not be more than {NAME_MAX} characters', status=400)
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repo, tag, digest)


def parse_ref(ref: str) -> tuple[str, str]:
    """The local store's key for a name: (familiar name, tag), the tag latest by default.
    docker.io/library/busybox and busybox are one image, shown as busybox; a digest
    names no tag (docker refuses to tag with one)."""
    r = parse_reference(ref)
    if r.digest is not None:
        raise ImageError(f'invalid reference format: "{ref}" (a digest is not a tag)', status=400)
    return r.familiar, r.tag
