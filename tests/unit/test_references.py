"""Image references, against docker's grammar: the cases of distribution/reference's
reference_test.go and normalize_test.go (ParseNormalizedNamed, what docker's client
parses a name with).

One parser, core/images/reference.py: parse_reference gives pull and push the registry,
the repository on it, a tag and a digest; parse_ref gives the local store its key, the
familiar name and a tag (docker shows busybox for docker.io/library/busybox).  The last
tests hold the two to each other: every name is read the same way by both."""
from __future__ import annotations

import pytest

from dunnage.core.images import registry, store
from dunnage.core.images.reference import ImageError, parse_ref, parse_reference

F64 = "f" * 64
SHA = f"sha256:{F64}"
HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a"


def ref(s: str) -> tuple:
    r = parse_reference(s)
    return r.registry, r.repository, r.tag, r.digest


@pytest.mark.parametrize("text, want", [
    # reference_test.go TestReferenceParse, normalized as docker's client does
    ("test_com", ("docker.io", "library/test_com", "latest", None)),
    ("test.com:tag", ("docker.io", "library/test.com", "tag", None)),
    ("test.com:5000", ("docker.io", "library/test.com", "5000", None)),
    ("test.com/repo:tag", ("test.com", "repo", "tag", None)),
    ("test:5000/repo", ("test:5000", "repo", "latest", None)),
    ("test:5000/repo:tag", ("test:5000", "repo", "tag", None)),
    (f"test:5000/repo@{SHA}", ("test:5000", "repo", None, SHA)),
    (f"test:5000/repo:tag@{SHA}", ("test:5000", "repo", "tag", SHA)),
    ("lowercase:Uppercase", ("docker.io", "library/lowercase", "Uppercase", None)),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", ("sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", None)),
    ("b.gcr.io/test.example.com/my-app:test.example.com",
     ("b.gcr.io", "test.example.com/my-app", "test.example.com", None)),
    ("xn--n3h.com/myimage:xn--n3h.com", ("xn--n3h.com", "myimage", "xn--n3h.com", None)),
    ("foo_bar.com:8080", ("docker.io", "library/foo_bar.com", "8080", None)),
    ("foo/foo_bar.com:8080", ("docker.io", "foo/foo_bar.com", "8080", None)),
    ("192.168.1.1", ("docker.io", "library/192.168.1.1", "latest", None)),
    ("192.168.1.1:5000", ("docker.io", "library/192.168.1.1", "5000", None)),
    ("192.168.1.1/repo", ("192.168.1.1", "repo", "latest", None)),
    ("192.168.1.1:5000/repo:5050", ("192.168.1.1:5000", "repo", "5050", None)),
    ("[2001:db8::1]/repo", ("[2001:db8::1]", "repo", "latest", None)),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", ("[2001:db8:1:2:3:4:5:6]", "repo", "tag", None)),
    (f"[2001:db8::1]:5000/repo:tag@{SHA}", ("[2001:db8::1]:5000", "repo", "tag", SHA)),
    ("[::1]:5000/repo", ("[::1]:5000", "repo", "latest", None)),
    # normalize_test.go: docker.io and its library/, localhost, a capital letter names a host
    ("busybox", ("docker.io", "library/busybox", "latest", None)),
    ("docker.io/busybox", ("docker.io", "library/busybox", "latest", None)),
    ("docker.io/library/foo/bar", ("docker.io", "library/foo/bar", "latest", None)),
    ("dmcgowan/myapp", ("docker.io", "dmcgowan/myapp", "latest", None)),
    (f"busybox:latest@{SHA}", ("docker.io", "library/busybox", "latest", SHA)),
    ("127.0.0.1:8000/privatebase", ("127.0.0.1:8000", "privatebase", "latest", None)),
    ("localhost/foo", ("localhost", "foo", "latest", None)),
    ("Foo/bar", ("Foo", "bar", "latest", None)),
    ("FOO/bar", ("FOO", "bar", "latest", None)),
    ("docker.io/" + HEX64, ("docker.io", "library/" + HEX64, "latest", None)),
    ("dock__er/docker", ("docker.io", "dock__er/docker", "latest", None)),
    ("docker---rules/docker", ("docker.io", "docker---rules/docker", "latest", None)),
    ("thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
     ("docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "latest", None)),
])
def test_registry_references_as_docker_parses_them(text, want):
    assert ref(text) == want


BAD = [
    "", ":justtag", f"@{SHA}", "repo@sha256:" + "f" * 34, f"validname@invaliddigest:{F64}",
    "Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "aa/asdf$$^/aa",
    "[2001:db8::1]", "[2001:db8::1]:5000", "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo", "[fe80::1%@invalidzone]:5000/repo", "fc00::1:5000/debian",
    "https://github.com/docker/docker", "docker/Docker", "-docker", "-docker/docker", "-docker.io/docker/docker",
    "docker///docker", "docker.io/docker///docker", "docker-/docker", "-docker-/docker", "____/____",
    "_docker/_docker", "dock..er/docker", "dock_.er/docker", "dock-.er/docker", "docker/", HEX64,
    "busybox:-foo", "busybox:" + "a" * 129,
    "localhost/" + "a/" * 122 + "ab",  # 256 characters: over docker's 255
    "a/" * 127 + "a:tag",  # docker.io/a/...: over 255 once normalized
]


@pytest.mark.parametrize("text", BAD)
def test_registry_references_docker_refuses(text):
    with pytest.raises(ImageError, match="invalid reference format"):
        parse_reference(text)


def test_a_name_of_255_characters_is_the_longest():
    name = "localhost/" + "a/" * 122 + "a"
    assert len(name) == 255 and ref(name)[1] == "a/" * 122 + "a"


def test_familiar_names_drop_docker_io_and_library():
    assert parse_reference("docker.io/library/busybox:1").familiar == "busybox"
    assert parse_reference("docker.io/busybox").familiar == "busybox"
    assert parse_reference("docker.io/library/foo/bar").familiar == "library/foo/bar"
    assert parse_reference("localhost:5000/x/y").familiar == "localhost:5000/x/y"
    assert parse_reference("busybox").api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"


# ------------------------------------------------------------------ the local store's names
@pytest.mark.parametrize("text, want", [
    ("busybox", ("busybox", "latest")),
    ("busybox:1.36", ("busybox", "1.36")),
    ("lowercase:Uppercase", ("lowercase", "Uppercase")),
    ("test.com:5000", ("test.com", "5000")),
    ("test:5000/repo", ("test:5000/repo", "latest")),
    ("192.168.1.1:5000/repo:5050", ("192.168.1.1:5000/repo", "5050")),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", ("sub-dom1.foo.com/bar/baz/quux", "some-long-tag")),
    ("local/busybox:latest", ("local/busybox", "latest")),
    # the store keys an image by its familiar name, as docker shows it
    ("docker.io/library/busybox", ("busybox", "latest")),
    ("docker.io/busybox:1", ("busybox", "1")),
    ("docker.io/library/foo/bar", ("library/foo/bar", "latest")),
    ("docker.io/dmcgowan/myapp", ("dmcgowan/myapp", "latest")),
    ("[::1]:5000/repo", ("[::1]:5000/repo", "latest")),
    ("[2001:db8::1]/repo:tag", ("[2001:db8::1]/repo", "tag")),
    ("Foo/bar", ("Foo/bar", "latest")),
])
def test_store_names_as_docker_tags_them(text, want):
    assert parse_ref(text) == want


@pytest.mark.parametrize("text", [
    "", ":justtag", "Uppercase:tag", "test:5000/Uppercase/lowercase:tag", "aa/asdf$$^/aa", "docker/Docker",
    "-docker", "docker///docker", "docker-/docker", "____/____", "dock..er/docker", "docker/",
    "busybox:-foo", "busybox:" + "a" * 129, "[2001:db8::1]", HEX64, "localhost/" + "a/" * 122 + "ab",
    f"busybox@{SHA}", f"busybox:1@{SHA}",  # a digest names no tag: docker refuses to tag with one too
])
def test_store_names_docker_refuses(text):
    with pytest.raises(ImageError, match="invalid reference format"):
        parse_ref(text)


def test_the_store_and_the_registry_client_read_names_with_one_parser():
    assert store.parse_ref is parse_ref and registry.parse_reference is parse_reference
    assert store.ImageError is ImageError is registry.ImageError


CASES = [
    "busybox", "docker.io/library/busybox:1", "[::1]:5000/repo", "Foo/bar", "localhost/foo",
    "127.0.0.1:8000/privatebase:v1", "docker.io/library/foo/bar", "docker.io/" + HEX64, HEX64, f"busybox@{SHA}",
] + BAD


@pytest.mark.parametrize("text", CASES)
def test_no_name_is_read_two_ways(text):
    """Where the store takes a name, it is the registry's reference under its familiar name;
    where the registry parser refuses one, so does the store."""
    try:
        r = parse_reference(text)
    except ImageError:
        with pytest.raises(ImageError, match="invalid reference format"):
            parse_ref(text)
        return
    if r.digest is None:
        assert parse_ref(text) == (r.familiar, r.tag)
        assert parse_reference(":".join(parse_ref(text))) == r
    else:
        with pytest.raises(ImageError, match="invalid reference format"):
            parse_ref(text)
