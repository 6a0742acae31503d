#!/usr/bin/env bash
# dunnage's one set-up script: installs what is missing (Debian packages, the
# .venv with dunnage in it), then does what was asked.  Idempotent, and quick
# when nothing is missing.
#
#   scripts/dev.sh setup        only install
#   scripts/dev.sh demo         install, start the demo containers, open the dashboard
#   scripts/dev.sh test [ARGS]  install, run the whole test suite (ARGS go to pytest)
#   scripts/dev.sh bench        install, run the benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=$(pwd)

if [ "$(id -u)" != 0 ]; then
    echo "dunnage needs root (namespaces, cgroups, FUSE): run this with sudo" >&2
    exit 1
fi

# libseccomp2: seccomp filters; fuse3/libfuse3-dev/pkg-config: pyfuse3 builds against libfuse3 and mounts with it
# busybox-static: the offline demo image; tmux: the dashboard test drives it
# podman, runc, uidmap: the peer the benchmarks compare against; skopeo, umoci, docker-registry:
# the tests build images, push them to a real registry on 127.0.0.1 and write archives; file: tells static binaries
# libnftables1: port publishing, masquerade and isolation rules (nftables through its library); tini: --init
# patch: pyfuse3 is built with scripts/pyfuse3.patch
# docker.io: Debian's dockerd and its client (/usr/bin/docker), the oracle the inspect tests compare with
# docker-compose: Debian's Compose (v1), the peer dunnage compose's names and labels are compared with
# strace: the union fs's tests read the server's own fsync calls with it
APT_PACKAGES="patch libseccomp2 fuse3 libfuse3-dev pkg-config gcc python3-dev python3-venv busybox-static tmux podman runc uidmap skopeo umoci docker-registry file iproute2 util-linux libnftables1 tini docker.io docker-compose strace"

missing=()
for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
    echo "dunnage needs Python 3.11 or newer ($PY is older)" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
STAMP=.venv/.dunnage-installed
HASH=$(cat pyproject.toml bin/dunnage bin/dunnage-runtime | sha256sum | cut -d' ' -f1)
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$HASH" ] || ! .venv/bin/python -c 'import dunnage.core, pyfuse3, textual' 2>/dev/null; then
    echo "installing dunnage into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[test]"
    # the commands' scripts (bin/) run without site: pip drops the flags of their first line
    sed -i '1s|^\(#!.*python[0-9.]*\)$|\1 -IS|' .venv/bin/dunnage .venv/bin/dunnage-runtime
    echo "$HASH" > "$STAMP"
fi
# pyfuse3 with scripts/pyfuse3.patch: the kernel keeps symlink targets and directory listings
# (fewer round trips through the union fs; see fuse/union.py), st_ino apart from node ids, no
# trio or importlib.metadata at import, FUSE_HANDLE_KILLPRIV_V2 (no GETXATTR before each write;
# libfuse 3.14 knows no such flag), WRITE data handed to write() without a copy (revision 4),
# FUSE passthrough where the kernel has it (revision 5: libfuse < 3.16 knows none), files
# opened by the kernel without asking the server (revision 6: FUSE no_open, served by node),
# GETATTR/GETXATTR of files open passthrough answered without Python (revision 7), and
# GETATTR, GETXATTR, LISTXATTR and OPEN for reading of lower-layer files too (revision 8),
# their POSIX ACLs' GETXATTR where they have none, and OPEN/RELEASE of a file opened passthrough
# before, with the backing id the node keeps (revision 9); fsyncdir by inode without OPENDIR (revision 10);
# FALLOCATE and LSEEK passed on (revision 11); a handler's OSError answered with its errno (revision 12);
# FUSE_CAP_DONT_MASK for an Operations that asks (revision 13); O_TMPFILE as a create() of "/" (revision 14);
# any exception of a handler answered EIO, logged (revision 15); fast_attr showing one link (revision 16).
# Built from its source, as pip does anyway; DUNNAGE_PATCH
# is the patch's revision (a build of an older one is rebuilt).
if ! .venv/bin/python -c 'import pyfuse3, sys; sys.exit(getattr(pyfuse3, "DUNNAGE_PATCH", 0) < 16)' 2>/dev/null; then
    echo "building pyfuse3 with scripts/pyfuse3.patch"
    PYFUSE3=$(sed -n 's/.*"pyfuse3==\([0-9.]*\)".*/\1/p' pyproject.toml)
    tmp=$(mktemp -d)
    .venv/bin/python -m pip download -q --no-deps --no-binary :all: "pyfuse3==$PYFUSE3" -d "$tmp"
    tar xzf "$tmp/pyfuse3-$PYFUSE3.tar.gz" -C "$tmp"
    patch -s -d "$tmp/pyfuse3-$PYFUSE3" -p1 < scripts/pyfuse3.patch
    .venv/bin/python -m pip install -q --no-deps --force-reinstall "$tmp/pyfuse3-$PYFUSE3"
    rm -rf "$tmp"
fi
# bytecode for the sources, as an installed wheel has it (an editable install compiles on first
# import, or on every import where PYTHONDONTWRITEBYTECODE is set: 50 ms of each command's start)
.venv/bin/python -m compileall -q -j 0 core fuse tui >/dev/null || true
modprobe fuse 2>/dev/null || true

cmd=${1:-setup}
shift || true
case "$cmd" in
    setup) ;;
    demo)
        exec .venv/bin/dunnage demo "$@" ;;
    test)
        if [ $# -eq 0 ]; then
            # the pure unit tests first, as an unprivileged user (nobody), as they must run anywhere; the
            # ambient CAP_DAC_READ_SEARCH only lets nobody read a checkout in a directory only root may enter
            echo "unit tests as nobody:"
            setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+dac_read_search \
                --ambient-caps=+dac_read_search .venv/bin/python -m pytest -q -p no:cacheprovider tests/unit
        fi
        exec .venv/bin/python -m pytest -ra "$@" ;;
    bench)
        # the benchmarks' peers and inputs: fuse-overlayfs beside kernel overlayfs, a debootstrap root
        for p in debootstrap fuse-overlayfs; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || \
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
        done
        exec .venv/bin/python bench/run.py "$@" ;;
    *)
        echo "usage: scripts/dev.sh setup|demo|test|bench" >&2
        exit 2 ;;
esac
