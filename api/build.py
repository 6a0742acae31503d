"""POST /build: the context tar in the body, built by dunnage.builder, the progress as the
classic builder's JSON stream ({"stream": "Step 1/3 : FROM ..."}, {"aux": {"ID": ...}},
"Successfully built ..."), which `docker build` (DOCKER_BUILDKIT=0), docker-py's
images.build and compose's build: read; a failure is the stream's errorDetail."""
from __future__ import annotations

import io
import json
import re
import shutil

from .errors import ApiError
from .responses import progress_stream
from .router import qbool, qstr

_LABEL = re.compile(r"^\[(?:\S+ )?(\d+/\d+)\] (.*)$", re.S)


def _json_map(query: dict, name: str) -> dict[str, str]:
    text = qstr(query, name)
    if not text:
        return {}
    try:
        doc = json.loads(text)
    except ValueError:
        raise ApiError(400, f"invalid {name}: not JSON") from None
    if not isinstance(doc, dict):
        raise ApiError(400, f"invalid {name}: not an object")
    return {str(k): str(v) for k, v in doc.items() if v is not None}


def build(req):
    from dunnage.builder import build as B
    from dunnage.builder import request
    from dunnage.builder.progress import Classic
    from dunnage.core import EngineError
    q = req.query
    if qstr(q, "remote"):
        raise ApiError(400, "dunnage builds from the request's context tar only (remote contexts are not fetched)")
    network = qstr(q, "networkmode") or None
    if network not in (None, "default", "bridge", "none", "host"):
        raise ApiError(400, f"network mode \"{network}\" not supported by the builder")
    try:
        tags = B.normalize_tags([t for t in q.get("t", []) if t])
    except EngineError as e:
        raise ApiError(400, str(e)) from None
    e = req.engine()
    opts = B.Options(dockerfile="", tags=tags, build_args=_json_map(q, "buildargs"), target=qstr(q, "target") or None,
                     no_cache=qbool(q, "nocache"), pull=qbool(q, "pull"), labels=_json_map(q, "labels"),
                     network=network)
    quiet = qbool(q, "q")
    tmp = e.store.tempdir("build-ctx-")
    try:
        ctx = tmp / "ctx"
        request.unpack_context(req.body_file() or io.BytesIO(b""), ctx)
        name = qstr(q, "dockerfile") or "Dockerfile"
        df_path = (ctx / name).resolve()
        if not str(df_path).startswith(str(ctx.resolve()) + "/"):
            raise ApiError(400, f"the Dockerfile {name} is outside the build context")
        opts.context = str(ctx)
        opts.dockerfile, _ = request.read_dockerfile(opts.context, str(df_path))
        opts.excluded = request.ignore_rules(opts.context, str(df_path))
    except EngineError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ApiError(400 if err.status in (None, 400) else err.status, str(err)) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    def work(put) -> None:
        def emit(text: str) -> None:
            if not quiet:
                m = _LABEL.match(text[5:]) if text.startswith("Step ") else None
                put({"stream": f"Step {m.group(1)} : {m.group(2)}" if m else text})
        try:
            img = B.build(e, opts, Classic(emit))
            put({"aux": {"ID": img.id}})
            if quiet:
                put({"stream": img.id + "\n"})
        except Exception as err:  # noqa: BLE001
            code = getattr(err, "process_code", None) or getattr(err, "exit_code", 1)  # docker's CLI exits with it
            put({"errorDetail": {"message": str(err), "code": code}, "error": str(err)})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return progress_stream(work)


build.archive_body = True  # the context tar: spooled to disk past 16 MiB, as load's and cp's


def prune(req):
    from dunnage.builder.cache import Cache
    n, freed = Cache(req.engine()).prune(qbool(req.query, "all"))
    return {"CachesDeleted": [], "SpaceReclaimed": freed}


def register(r) -> None:
    r.add("POST", "/build", build)
    r.add("POST", "/build/prune", prune)
