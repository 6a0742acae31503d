"""`python -I -m dunnage.core.forkserver ROOT RUN MAIN PREPARE`: a fork server started
afresh, in a new interpreter, by a command that ran for want of one (client.start_for_next):
forked from that command's process instead, it would carry the command's heap (an import's
buffers, freed but kept by the allocator) into every shim forked from it, where the shims'
first allocations copy those pages (0.65 MiB more private memory per idle container, after
an `import`).  MAIN and PREPARE name the front's command entry, as register_front does."""
import sys

from ..store import Store
from .server import server_entry

if __name__ == "__main__":
    root, run, main, prepare = sys.argv[1:5]
    server_entry(Store(root, run), -1, (main, prepare))
