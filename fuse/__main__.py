"""python -m dunnage.fuse --lower DIR [--lower DIR ...] --upper DIR MOUNTPOINT

Mounts the union of the lower layers (first is topmost) under a writable
upper layer, in the foreground, until unmounted or interrupted."""
import argparse
import os
import sys

from .mount import serve
from .union import NO_OPEN, PASSTHROUGH, WRITEBACK


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dunnage.fuse", description=__doc__.splitlines()[2])
    ap.add_argument("--lower", action="append", required=True, help="read-only layer (repeat; first is topmost)")
    ap.add_argument("--upper", required=True, help="writable layer")
    ap.add_argument("--fsname", default="dunnage")
    ap.add_argument("--writeback-cache", choices=("on", "off"), default="on" if WRITEBACK else "off",
                    help="the kernel's writeback cache: on, a write() may reach the upper layer only at "
                         "close(), fsync() or later (where passthrough is settled, it is off)")
    ap.add_argument("--passthrough", choices=("on", "off"), default="on" if PASSTHROUGH else "off",
                    help="FUSE passthrough where the kernel has it: reads and writes of files of the upper "
                         "layer go to them in the kernel, not through this server")
    ap.add_argument("--open-requests", choices=("on", "off"), default="on",
                    help="off: the kernel opens files without asking this server (FUSE's no_open: no round "
                         "trip per open; no passthrough then)" + ("" if NO_OPEN else " (needs pyfuse3's patch 6)"))
    ap.add_argument("mountpoint")
    a = ap.parse_args(argv)
    for d in a.lower + [a.upper, a.mountpoint]:
        if not os.path.isdir(d):
            print(f"dunnage.fuse: not a directory: {d}", file=sys.stderr)
            return 2
    try:
        serve(a.lower, a.upper, a.mountpoint, fsname=a.fsname, writeback=a.writeback_cache == "on",
              passthrough=a.passthrough == "on", no_open=a.open_requests == "off")
    except RuntimeError as e:
        print(f"dunnage.fuse: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
