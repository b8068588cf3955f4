"""FastAPI routes of the web editor and `run_serve`. Every route answers JSON errors as {"error": one line}; the
models run in FastAPI's thread pool behind the editor's lock, so a slow reading never blocks the event loop."""

from __future__ import annotations

import base64
import io
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

from models.weights import CheckpointError
from pipeline.edit.config import parse_changes
from pipeline.serve.catalog import NotListed, eval_summaries, preview_rows, run_files
from pipeline.serve.config import ServeConfig
from pipeline.serve.editor import Editor, png
from pipeline.serve.photo_routes import add_photo_routes
from pipeline.serve.photos import Photos
from pipeline.serve.upload import TooLarge, read_limited
from stages.render import to_uint8

PAGE = Path(__file__).with_name("page.html")


def data_url(pixels: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png(pixels)).decode()


def batch_command(export_path: Path, source: str, change: list[str], refine: int = 0) -> str:
    """The edit job that reproduces this edit: the original latent and the readings the mapper was given travel in
    the Parquet file offered for download, so the batch job feeds the mapper exactly the same inputs."""
    delta = ",".join(c for c in change if float(c.partition("=")[2] or 0) != 0) or "none"
    name = source.replace(":", "-")
    steps = ["--refine.steps", str(refine)] if refine and delta != "none" else []
    return " ".join(shlex.quote(a) for a in ["python", "-m", "pipeline", "edit", "--mapper", str(export_path),
                                              "--latents", f"face-{name}.parquet", "--delta", delta, *steps, "--out", f"data/edits/face-{name}"])


def make_app(cfg: ServeConfig, editor: Editor | None = None) -> FastAPI:
    ed = editor or Editor(cfg)
    app = FastAPI(title="Latent-To-Latent editor", docs_url=None, redoc_url=None)
    page = PAGE.read_text()

    @app.exception_handler(ValueError)
    async def bad_input(_: Request, e: ValueError) -> JSONResponse:
        return JSONResponse({"error": str(e).splitlines()[0]}, status_code=400)

    @app.exception_handler(NotListed)
    async def unknown(_: Request, e: NotListed) -> JSONResponse:
        return JSONResponse({"error": str(e.args[0]) if e.args else "not found"}, status_code=404)

    for missing in (FileNotFoundError, CheckpointError):
        app.add_exception_handler(missing, lambda _r, e: JSONResponse({"error": str(e).splitlines()[0]}, status_code=409))
    app.add_exception_handler(TooLarge, lambda _r, e: JSONResponse({"error": str(e)}, status_code=413))

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page

    @app.get("/api/mappers")
    def mappers() -> list[dict[str, Any]]:  # refine_max: the refine control's top (0: this export's critic takes no steps)
        return [{**e.describe(), "refine_max": cfg.refine.steps if e.refinable else 0} for e in ed.exports().values()]

    @app.get("/api/rows")
    def rows(mapper: str) -> dict[str, Any]:
        seeds, _ = ed.rows(ed.load(mapper))
        return {"dataset": ed.dataset_of(ed.load(mapper)), "seeds": seeds.tolist()}

    def face_json(mapper: str, source: str) -> dict[str, Any]:
        f = ed.face(mapper, source)
        image = to_uint8(f.reading.images)[0]  # the judge's images are 8-bit already: exact
        names = ed.load(mapper).mapper.cfg.attributes
        return {"source": source, "image": data_url(image), "readings": {n: float(f.reading.labels[n][0]) for n in names}}

    @app.get("/api/face")
    def face(mapper: str, source: str) -> dict[str, Any]:
        return face_json(mapper, source)

    @app.post("/api/upload")
    async def upload(request: Request, mapper: str) -> JSONResponse:
        data = await read_limited(request, cfg.max_upload_bytes, "--max-upload-bytes")
        source = await run_in_threadpool(ed.upload, mapper, data)
        return JSONResponse(await run_in_threadpool(face_json, mapper, source))

    @app.get("/api/edit")
    def edit(mapper: str, source: str, change: list[str] = Query(default=[]), refine: int = 0) -> dict[str, Any]:
        t0 = time.perf_counter()
        w1, image = ed.edit(mapper, source, parse_changes(change), refine)
        out = {"image": data_url(image), "ms": round(1000 * (time.perf_counter() - t0), 2),
               "latent_dist": float((w1 - ed.face(mapper, source).w).norm())}
        out["command"] = batch_command(ed.load(mapper).export.path, source, change, refine)
        return out

    @app.get("/api/read")
    def read(mapper: str, source: str, change: list[str] = Query(default=[]), refine: int = 0) -> dict[str, Any]:
        return ed.readings(mapper, source, parse_changes(change), refine)

    @app.get("/api/sweep")
    def sweep(mapper: str, source: str, attribute: str, change: list[str] = Query(default=[])) -> dict[str, Any]:
        strip, steps = ed.sweep(mapper, source, attribute, parse_changes(change))
        return {"image": data_url(strip), "strengths": steps, "attribute": attribute}

    @app.get("/api/download/edit.png")
    def edit_png(mapper: str, source: str, change: list[str] = Query(default=[]), refine: int = 0) -> Response:
        _, image = ed.edit(mapper, source, parse_changes(change), refine)
        return Response(png(image), media_type="image/png", headers=_attachment(f"edit-{source.replace(':', '-')}.png"))

    @app.get("/api/download/edit.npy")
    def edit_npy(mapper: str, source: str, change: list[str] = Query(default=[]), refine: int = 0) -> Response:
        _, _, w1 = ed.edited(mapper, source, parse_changes(change), refine)  # the latent only: nothing to render
        buf = io.BytesIO()
        np.save(buf, w1.numpy(), allow_pickle=False)
        return Response(buf.getvalue(), media_type="application/octet-stream", headers=_attachment(f"edit-{source.replace(':', '-')}.npy"))

    @app.get("/api/download/original.parquet")
    def original_parquet(mapper: str, source: str) -> Response:
        return Response(_original_parquet(ed, mapper, source), media_type="application/octet-stream",
                        headers=_attachment(f"face-{source.replace(':', '-')}.parquet"))

    @app.get("/api/runs")
    def runs() -> list[dict[str, Any]]:
        return [{**e.describe(), "evals": eval_summaries(e), "files": list(run_files(e))} for e in ed.exports().values()]

    @app.get("/api/runs/{run_id}/files/{name:path}")
    def run_file(run_id: str, name: str) -> FileResponse:
        export = ed.exports().get(run_id)
        files = run_files(export) if export else {}
        if name not in files:  # only names the server listed: the browser's text is a key, never a path
            raise NotListed(f"no file {name!r} in run {run_id!r}")
        return FileResponse(files[name])

    @app.get("/api/dataset")
    def dataset(mapper: str, count: int = Query(default=8, ge=1, le=64)) -> dict[str, Any]:
        m = ed.load(mapper)
        ds = ed.dataset_of(m)
        rows = preview_rows(ds, count, m.mapper.cfg.attributes)
        for r in rows:
            r["image"] = "data:image/png;base64," + base64.b64encode(r["image"]).decode() if r["image"] else None
        return {"dataset": ds, "rows": rows}

    add_photo_routes(app, cfg, Photos(ed))
    return app


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


def _original_parquet(ed: Editor, mapper: str, source: str) -> bytes:
    """The original latent with the readings the mapper was given, in the layout `edit --latents` reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    m, f = ed.load(mapper), ed.face(mapper, source)
    w = f.w[0].numpy().astype(np.float32)
    wtype = pa.list_(pa.float32()) if w.ndim == 1 else pa.list_(pa.list_(pa.float32()))  # nested for W+: read back as (num_ws, w_dim)
    cols = {"id": pa.array([0], pa.int64()), "w": pa.array([w.tolist()], wtype),
            **{n: pa.array([float(f.a[0, j])], pa.float32()) for j, n in enumerate(m.mapper.cfg.attributes)}}
    buf = io.BytesIO()
    pq.write_table(pa.table(cols), buf)
    return buf.getvalue()


def run_serve(cfg: ServeConfig) -> None:
    import socket

    import uvicorn

    with socket.socket() as probe:  # a taken port is a one-line error before any model loads
        try:
            probe.bind((cfg.host, cfg.port))
        except OSError as e:
            raise ValueError(f"cannot listen on {cfg.host}:{cfg.port}: {e.strerror}") from None
    editor = Editor(cfg)
    first = next(iter(editor.exports().values()))
    print(f"serving the editor on http://{cfg.host}:{cfg.port} (mappers under {cfg.runs}; first: {first.id}); Ctrl-C stops it",
          flush=True)
    uvicorn.run(make_app(cfg, editor), host=cfg.host, port=cfg.port, log_level="warning")
