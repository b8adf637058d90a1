"""`dlpy essay serve`: the essay scorer as a web page and an HTTP API (FastAPI on uvicorn; the
`[serve]` extra).

    GET  /                 the page (web/: plain HTML, CSS and JS, nothing from the network)
    GET  /healthz          {"status": "ok", "model": ...}
    GET  /api/prompts      the prompts by category
    POST /api/score        {"text", "prompt"} -> score, integer, criteria, warnings, explanation
    POST /api/score-batch  a class (zip of AI Hub JSON, CSV, JSONL) -> NDJSON / CSV, streamed
    GET  /docs, /openapi.json

The model and Kiwi load once, before the first request. Limits answer 413/422 with a message
(never a hang); the server writes nothing but its uploads' temporary files and calls nobody.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from dlpy import __version__
from dlpy.essay import service as svc

WEB = Path(__file__).parent / "web"
MAX_SCORE_BODY = 512 * 1024                        # 20,000 characters, even all \uXXXX-escaped
MAX_BATCH_BODY = svc.MAX_BATCH_BYTES + 1024 * 1024  # the file plus the multipart framing


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: StrictStr = Field(description=f"the essay, paragraphs on separate lines, at most "
                            f"{svc.MAX_CHARS:,} characters")
    prompt: StrictStr | None = Field(None, max_length=500,
                                     description="the prompt's title, as /api/prompts "
                                     "lists it; missing or unknown: scored with the shared "
                                     "weights and a warning")
    explain: StrictBool = Field(True, description="include the explanation")


class BodyLimit:
    """ASGI middleware: a request body over the limit of its path gets 413 at once (by its
    Content-Length, or while it streams in), before anything parses it."""

    def __init__(self, app, limits: dict[str, int], default: int = 64 * 1024):
        self.app, self.limits, self.default = app, limits, default

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limits.get(scope["path"], self.default)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _too_large(send, limit)
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        async def tracked_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


class _BodyTooLarge(Exception):
    pass


async def _too_large(send, limit: int) -> None:
    body = json.dumps({"detail": f"request body over the limit of {limit:,} bytes"}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _validation_message(err: RequestValidationError) -> str:
    parts = []
    for e in err.errors():
        if e.get("type") == "json_invalid":
            parts.append(f"the body is not valid JSON (at character {e['loc'][-1]}: "
                         f"{e.get('ctx', {}).get('error', 'decode error')})")
            continue
        where = ".".join(str(x) for x in e.get("loc", ()) if x != "body") or "body"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(service: svc.ScoringService) -> FastAPI:
    """The app around a loaded ScoringService."""
    app = FastAPI(title="dlpy essay scorer", version=__version__, docs_url=None,
                  redoc_url=None,
                  description="Scores Korean essays (AI Hub 에세이 글 평가) on the 0-30 "
                  "scale, with the three rubric criteria, warnings and an explanation from "
                  "the model.")
    app.add_middleware(BodyLimit, limits={"/api/score": MAX_SCORE_BODY,
                                          "/api/score-batch": MAX_BATCH_BODY})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        return JSONResponse({"detail": _validation_message(err)}, status_code=422)

    @app.exception_handler(UnicodeDecodeError)
    async def not_utf8(request: Request, err: UnicodeDecodeError):
        return JSONResponse({"detail": f"the request body is not UTF-8 (byte {err.start})"},
                            status_code=400)

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(WEB / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    def docs():  # FastAPI's own docs page loads Swagger UI from a CDN; this one is local
        return FileResponse(WEB / "docs.html", media_type="text/html; charset=utf-8")

    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/healthz", summary="the server is up and the model loaded")
    def healthz():
        return {"status": "ok", "version": __version__, "model": service.model.describe()}

    @app.get("/api/prompts", summary="the prompts the model knows, by category")
    def prompts():
        return {"categories": [{"name": name, "prompts": items}
                               for name, items in service.prompts().items()]}

    @app.post("/api/score", summary="score one essay",
              responses={413: {"description": "the essay or the body is over the limit"},
                         422: {"description": "not {text, prompt}, or an empty essay"}})
    def score(request: ScoreRequest):
        try:
            # a JSONResponse as is: FastAPI's generic encoder walks every nested value (slow)
            return JSONResponse(service.score(request.text, request.prompt,
                                              explain=request.explain))
        except svc.EssayTooLong as err:
            raise HTTPException(413, str(err)) from None
        except ValueError as err:
            raise HTTPException(422, str(err)) from None

    @app.post("/api/score-batch", summary="score a class of essays, streamed",
              description="Upload a .zip of AI Hub essay JSON files, a .csv with a `text` "
              "column (and `prompt`, `id`), or a .jsonl of {text, prompt, id}. The answer "
              "streams: NDJSON (one object per essay with `done` and `total`, for progress, "
              "then a summary), one JSON object {essays, summary}, or CSV (one row per "
              "essay).",
              responses={413: {"description": "too many essays or bytes"},
                         422: {"description": "not a zip / CSV / JSONL of essays"}})
    def score_batch(file: Annotated[UploadFile, File(description="the class's essays")],
                    format: Annotated[str, Query(pattern="^(ndjson|json|csv)$")] = "ndjson"):
        data = file.file.read(svc.MAX_BATCH_BYTES + 1)
        try:
            items = svc.read_batch(file.filename or "upload", data)
        except svc.BatchTooLarge as err:
            raise HTTPException(413, str(err)) from None
        except ValueError as err:
            raise HTTPException(422, str(err)) from None
        if format == "csv":
            def rows():
                yield svc.csv_line(None)
                for item in items:
                    yield svc.csv_line(svc.batch_row(item, service))
            return StreamingResponse(rows(), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition":
                                              'attachment; filename="scores.csv"'})

        def rows():
            scored = []
            for done, item in enumerate(items, start=1):
                row = svc.batch_row(item, service)
                if row.get("score") is not None:
                    scored.append(row["score"])
                yield {"done": done, "total": len(items), **row}
            yield {"summary": True, "total": len(items), "scored": len(scored),
                   "mean": round(sum(scored) / len(scored), 2) if scored else None}

        def lines():
            for row in rows():
                yield json.dumps(row, ensure_ascii=False) + "\n"

        def document():  # one JSON object, still sent essay by essay
            yield '{"essays": ['
            for i, row in enumerate(rows()):
                if row.get("summary"):
                    yield '], "summary": ' + json.dumps(row) + "}"
                else:
                    yield ("," if i else "") + json.dumps(row, ensure_ascii=False)
        if format == "json":
            return StreamingResponse(document(), media_type="application/json")
        return StreamingResponse(lines(), media_type="application/x-ndjson")

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, model: str | None = None,
          log_level: str = "info") -> None:
    """Load the model and Kiwi, then answer on host:port until interrupted."""
    import uvicorn

    app = create_app(svc.ScoringService(model))
    uvicorn.run(app, host=host, port=port, log_level=log_level)
