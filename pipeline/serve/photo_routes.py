"""The routes of people's own photos: upload (answered at once, the inversion queued), its progress, an edit, the edited
photo to download. Errors are {"error": one line}: 413 over the size limit, 400 not a photo, 422 no face to edit or a
failed inversion, 409 an edit before the inversion is done, 404 a photo no longer kept."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from pipeline.edit.config import parse_changes
from pipeline.serve.config import ServeConfig
from pipeline.serve.photo_chain import NoFace
from pipeline.serve.photos import NotReady, Photos
from pipeline.serve.upload import read_limited


def add_photo_routes(app: FastAPI, cfg: ServeConfig, photos: Photos) -> None:
    app.add_exception_handler(NoFace, lambda _r, e: JSONResponse({"error": _line(e)}, status_code=422))
    app.add_exception_handler(NotReady, lambda _r, e: JSONResponse({"error": _line(e)}, status_code=409))

    @app.post("/api/photo")
    async def upload(request: Request, mapper: str, name: str = "") -> dict[str, Any]:
        """The photo's bytes as the body; `name` (the file's name) only names the download."""
        data = await read_limited(request, cfg.photo.limits.max_bytes, "--photo.limits.max-bytes")
        return await run_in_threadpool(photos.upload, mapper, data, name)

    @app.get("/api/photo/{photo_id}/progress", response_model=None)
    def progress(photo_id: str) -> dict[str, Any] | JSONResponse:
        out = photos.progress(photo_id)
        return JSONResponse({"error": out["error"]}, status_code=422) if out["error"] else out

    @app.get("/api/photo/{photo_id}/edit")
    def edit(photo_id: str, change: list[str] = Query(default=[]), refine: int = 0) -> dict[str, Any]:
        return photos.edit(photo_id, parse_changes(change), refine)

    @app.get("/api/photo/{photo_id}/download")
    def download(photo_id: str, change: list[str] = Query(default=[]), refine: int = 0) -> Response:
        data, media, filename = photos.download(photo_id, parse_changes(change), refine)
        return Response(data, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__
