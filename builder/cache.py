"""The build cache: per step, the state it left, keyed as BuildKit keys a step.

A key is the digest of the parent state (its image config), the instruction after
substitution, the build args it used and, for COPY and ADD, a checksum of the sources'
content and metadata (never their mtimes).  The record is the state's config; its layers
are in the store's `layers/` (a hit whose layers went, with an `rmi`, is a miss).  The
index, `<root>/builder/cache.msgpack`, is kept across builds; `builder prune` empties
it and removes the layers no image or container needs."""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Optional

from dunnage.core.store import read_record, write_record

from . import layers


def key_of(parent: str, instruction: str, args: dict, sources: str = "", platform: str = "") -> str:
    doc = json.dumps([parent, instruction, sorted(args.items()), sources, platform], separators=(",", ":"))
    return "sha256:" + hashlib.sha256(doc.encode()).hexdigest()


class Cache:
    def __init__(self, engine):
        self.engine = engine
        self.dir = Path(engine.store.root) / "builder"
        self.path = self.dir / "cache.msgpack"
        self._chains: dict[str, list[str]] = {}  # a record's chain ids (records do not change)

    def _lock(self):
        self.dir.mkdir(mode=0o700, exist_ok=True)
        return self.engine.store.lock("builder")

    def _load(self) -> dict:
        if not self.path.exists():
            return {"steps": {}}
        return read_record(self.path)

    def get(self, key: str) -> Optional[dict]:
        """The state KEY left, if its layers are all still there."""
        rec = self._load()["steps"].get(key)
        if rec is None:
            return None
        config = json.loads(rec["config"])
        if not layers.has_layers(self.engine, config):
            return None
        return config

    def put(self, key: str, config: dict, description: str, made_layer: bool = False) -> None:
        """Keep the state step KEY left; MADE_LAYER: the step made its top layer (what the
        cache's usage counts)."""
        with self._lock():
            idx = self._load()
            idx["steps"][key] = {"config": layers.raw(config).decode(), "description": description,
                                 "created": time.time(),
                                 "layer": (layers.chains(config) or [""])[-1] if made_layer else ""}
            write_record(self.path, idx)

    def records(self) -> dict:
        return self._load()["steps"]

    def chains(self) -> set[str]:
        """Every chain id a cached state stands on (what removals must keep)."""
        out = set()
        for key, rec in self.records().items():
            chains = self._chains.get(key)
            if chains is None or len(self._chains) > 100_000:
                chains = self._chains[key] = layers.chains(json.loads(rec["config"]))
            out.update(chains)
        return out

    def usage(self) -> list[dict]:
        """One item per cached step that made a layer: its id, description, size and whether
        an image uses the layer (then it is shared, not reclaimable)."""
        from dunnage.core.system import du
        used = {c for img in self.engine.images.list() for c in img.layers}
        out = []
        for key, rec in sorted(self.records().items(), key=lambda kv: kv[1].get("created", 0)):
            ch = rec.get("layer") or ""
            d = self.engine.store.layer_dir(ch) if ch else None
            size = du(d) if d is not None and d.exists() else 0
            out.append({"ID": key[7:19], "Description": rec.get("description", ""), "Size": size,
                        "InUse": ch in used, "Shared": ch in used, "CreatedAt": rec.get("created", 0),
                        "Layer": ch})
        return out

    def prune(self, all_: bool = False) -> tuple[int, int]:
        """builder prune: cache records go (-a: all of them, else those whose layer no image
        uses), and the layers that leaves unneeded.  Returns (records, bytes freed)."""
        from dunnage.core.system import du
        with self._lock():
            idx = self._load()
            used = {c for img in self.engine.images.list() for c in img.layers}
            gone = {k: r for k, r in idx["steps"].items() if all_ or (r.get("layer") or "") not in used}
            for k in gone:
                del idx["steps"][k]
            keep = set()
            for r in idx["steps"].values():
                keep.update(layers.chains(json.loads(r["config"])))
            doomed = set()
            for r in gone.values():
                doomed.update(c for c in layers.chains(json.loads(r["config"])) if c not in keep and c not in used)
            before = {c: du(self.engine.store.layer_dir(c)) for c in doomed
                      if self.engine.store.layer_dir(c).exists()}
            write_record(self.path, idx)  # first: a carrier's removal keeps what the index still holds
            for r in gone.values():
                cfg = json.loads(r["config"])
                if layers.has_layers(self.engine, cfg):
                    car = layers.Carrier(self.engine, cfg)
                    car.add()
                    car.remove(keep)
        freed = sum(s for c, s in before.items() if not self.engine.store.layer_dir(c).exists())
        return len(gone), freed


def sources_checksum(entries: list[tuple[str, os.stat_result, Optional[str], Optional[bytes]]]) -> str:
    """ENTRIES: (path relative to the context, lstat, link target, content digest) in order."""
    h = hashlib.sha256()
    for rel, st, link, content in entries:
        h.update(json.dumps([rel, st.st_mode, st.st_uid, st.st_gid, link, content.hex() if content else None,
                             st.st_size if content is None else 0]).encode())
        h.update(b"\0")
    return "sha256:" + h.hexdigest()
