"""The HTTP API (`python -m qa serve`): /search, /ask, /documents, /health, OpenAPI at /openapi.json and /docs.

Starlette + uvicorn, not FastAPI: both already come with Streamlit (no new dependency tree to pin), and four
read-only GET endpoints need no model layer. The JSON is the CLI's `--json` shape (`Answer.to_dict`,
`Hit.to_dict`). Stateless: each process only reads the store, so several can run behind a load balancer on one
Postgres database; on an index folder each request moves to the newest generation.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict
from urllib.parse import unquote_to_bytes

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.schemas import SchemaGenerator

from qa.config import Settings
from qa.errors import (IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError, QuestionError,
                       StoreUnavailableError)
from qa.retrieval import MAX_K, MODES, Retriever
from qa.storage import Filters

logger = logging.getLogger(__name__)

SCHEMAS = SchemaGenerator({"openapi": "3.0.0", "info": {"title": "Ask the articles", "version": "1"}})
# the query parameters /search and /ask share (read by `query_options`)
QUERY_PARAMETERS = [
    {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}, "description": "the question"},
    {"name": "k", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 5},
     "description": "passages to return"},
    {"name": "mode", "in": "query", "schema": {"type": "string", "enum": list(MODES), "default": "hybrid"}},
    {"name": "source", "in": "query", "schema": {"type": "array", "items": {"type": "string"}},
     "description": "only this publisher or document id (repeatable)"},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "only documents dated on or after"},
    {"name": "until", "in": "query", "schema": {"type": "string", "format": "date"},
     "description": "only documents dated on or before"},
]


def _object(description: str, **properties: dict) -> dict:
    """An OpenAPI object schema whose every property is present (none is left out of a response)."""
    return {"type": "object", "description": description, "required": list(properties), "properties": properties}


_TEXT, _WHOLE, _NUMBER = {"type": "string"}, {"type": "integer"}, {"type": "number"}
# What each response holds, as `python -m qa ask --json` prints it (`Hit.to_dict`, `Answer.to_dict`); /openapi.json
COMPONENTS = {
    "Sentence": _object("A sentence of a passage, by character offsets in the passage's text.", start=_WHOLE, end=_WHOLE,
                        score={**_NUMBER, "description": "how sure the answer model is that it answers (0-1)"}),
    "Hit": _object(
        "A passage with its source.",
        rank={**_WHOLE, "description": "1 = best; after /ask, in the order of its rerank, the answer's passage "
                                       "first among its document's"},
        score={**_NUMBER, "description": "the search's score: fused 0-1 in hybrid mode, a cosine in dense mode, "
                                         "unbounded in bm25 mode; after /ask, still the search's"},
        text=_TEXT, chunk_id=_WHOLE, doc_id={**_TEXT, "description": "the file, relative to the corpus folder"},
        title=_TEXT, publisher=_TEXT, author=_TEXT, date={**_TEXT, "description": "ISO date, or \"\" when unknown"},
        path={**_TEXT, "description": "the file as the build read it"},
        page={**_WHOLE, "nullable": True, "description": "the PDF page the passage starts on, else null"},
        start={**_WHOLE, "description": "character offset of the passage in its document"}, end=_WHOLE,
        answer={"allOf": [{"$ref": "#/components/schemas/Sentence"}], "nullable": True,
                "description": "after /ask, its best sentence; else null"},
        url={**_TEXT, "description": "the original article's address, or \"\""},
        copies={"type": "array", "items": {"$ref": "#/components/schemas/Hit"},
                "description": "after /ask, passages of other documents stating this text word for word"},
        answer_text={**_TEXT, "description": "the text of `answer`, or \"\""}),
    "Search": _object("The best passages, best first.", question=_TEXT,
                      hits={"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}),
    "Answer": _object(
        "The answering sentence and the passages it was chosen from.", question=_TEXT,
        answer={**_TEXT, "description": "the chosen sentence; present it as the answer only when confident"},
        phrase={**_TEXT, "description": "the words of `answer` that state the asked-for fact (\"three drones\"), or "
                                         "\"\" when the answer model is not sure where they stand"},
        phrase_span={"type": "array", "items": _WHOLE, "nullable": True,
                     "description": "[start, end] of `phrase` in `source.text`, or null"},
        context={**_TEXT, "description": "the sentence before it, when the answer opens by pointing back (He said...)"},
        confident={"type": "boolean", "description": "false: the archive does not seem to answer"},
        confidence={**_NUMBER, "description": "the highest confidence of any sentence (0-1): confident at or above "
                                              "the calibrated threshold; the answer's own is source.answer.score"},
        source={"allOf": [{"$ref": "#/components/schemas/Hit"}], "nullable": True,
                "description": "the passage holding the answer; null when no passage was found"},
        hits={"type": "array", "items": {"$ref": "#/components/schemas/Hit"}}),
    "Documents": _object("The indexed documents, by title, from `offset`.", documents={"type": "array", "items": _object(
        "A document as stored, without its text.", doc_id=_TEXT, path=_TEXT, title=_TEXT, publisher=_TEXT,
        author=_TEXT, date=_TEXT, content_hash=_TEXT, chunks=_WHOLE, url=_TEXT)},
        total={**_WHOLE, "description": "how many documents the index holds"}, offset=_WHOLE),
    "Health": _object(
        "The store this server reads.", status={**_TEXT, "enum": ["ok", "degraded"]},
        problem={**_TEXT, "nullable": True, "description": "why an earlier generation is served (degraded)"},
        store=_TEXT, model=_TEXT, documents=_WHOLE, chunks=_WHOLE,
        built_at={**_TEXT, "description": "when the index was built: it changes with each build"}),
    "Error": _object("Every error, whatever its status.", error={**_TEXT, "description": "one line saying why"}),
}
RESPONSES = {"/search": "Search", "/ask": "Answer", "/documents": "Documents", "/health": "Health"}
ERRORS = {"400": "a bad parameter", "401": "the token is missing or wrong (with QA_API_TOKEN set)",
          "499": "/ask only: the client left before its turn", "500": "the server failed (details in its log)",
          "503": "no index this server can read (none built, another model's, damaged)"}

ASKS_AT_ONCE = 2  # answers computed at once: the answer model runs on the CPU, and more at once only slows each
OPEN_PATHS = ("/health", "/docs", "/openapi.json")  # answered without the token: a load balancer's probe, the docs


PAGE_PARAMETERS = [  # /documents, a page at a time: an archive of thousands is megabytes of JSON
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0},
     "description": "documents to skip"},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1},
     "description": "documents to return (default: all)"},
]


class RequestError(QAError):
    """A request parameter is missing or malformed (answered with 400)."""


class RequireToken(BaseHTTPMiddleware):
    """With a token set (QA_API_TOKEN), every request but OPEN_PATHS must carry `Authorization: Bearer <token>`;
    401 JSON otherwise. A newsroom's server is reachable by its whole network."""

    def __init__(self, app: object, token: str) -> None:
        super().__init__(app)
        self.expected = f"Bearer {token}".encode()

    async def dispatch(self, request: Request, call_next: object) -> Response:
        given = request.headers.get("authorization", "").encode()
        if request.url.path in OPEN_PATHS or hmac.compare_digest(given, self.expected):
            return await call_next(request)
        return JSONResponse({"error": "this server needs a token: send the header Authorization: Bearer <token>"},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})


def query_options(request: Request) -> tuple[str, int, str, Filters]:
    """The question, k, mode and filters of a /search or /ask request; RequestError names a bad parameter."""
    try:  # Starlette decodes each parameter with U+FFFD for bytes that are not UTF-8, which would be searched
        unquote_to_bytes(request.scope["query_string"].replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise RequestError("the parameters are not valid UTF-8 text; percent-encode them from UTF-8") from None
    params = request.query_params
    question = params.get("q", "")
    if not question.strip():
        raise RequestError("missing the question: add ?q=your+question")
    k = whole_number(request, "k", 5, 1, MAX_K)
    mode = params.get("mode", "hybrid")
    if mode not in MODES:
        raise RequestError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    sources = tuple(source for source in params.getlist("source") if source.strip())  # a form's empty field: none
    return question, k, mode, Filters(sources, params.get("since", ""), params.get("until", ""))


def whole_number(request: Request, name: str, default: int, low: int, high: int | None = None) -> int:
    """The query parameter `name` as a whole number from `low` to `high` (`default` when absent); RequestError
    naming it otherwise. Only ASCII digits: int() also takes " 5", "1_0" and other scripts' digits."""
    given = request.query_params.get(name, str(default))
    bounds = f"from {low} to {high}" if high is not None else f"at least {low}"
    if not re.fullmatch(r"[0-9]+", given):
        raise RequestError(f"{name} must be a whole number {bounds}, not {given!r}")
    if int(given) < low or (high is not None and int(given) > high):
        raise RequestError(f"{name} must be {bounds}, not {int(given)}")
    return int(given)


def create_app(retriever: Retriever, token: str = "", cors_origins: Sequence[str] = ()) -> Starlette:
    """The API over an open retriever (its store and model are shared by all requests); with a `token`, requests
    must carry it (`RequireToken`), and browsers on `cors_origins` may call it (a CMS's page, say)."""
    answering = asyncio.Semaphore(ASKS_AT_ONCE)

    def current() -> Retriever:
        """The retriever on the newest index (a no-op on Postgres, which is always current)."""
        nonlocal retriever
        retriever = retriever.refreshed()
        return retriever

    def search(request: Request) -> JSONResponse:
        """
        summary: The best passages for a question, best first (the hits of `python -m qa ask --json`).
        """
        question, k, mode, filters = query_options(request)
        hits = current().search(question, k=k, mode=mode, filters=filters)
        return JSONResponse({"question": question, "hits": [hit.to_dict() for hit in hits]})

    async def ask(request: Request) -> JSONResponse:
        """
        summary: The answering sentence and its passages, as `python -m qa ask --json` prints them.
        """
        question, k, mode, filters = query_options(request)
        async with answering:  # ASKS_AT_ONCE; a request whose client left while it waited is not answered
            await request.body()  # the request's own message first: what is left to receive is a disconnect
            if await request.is_disconnected():  # a sidebar asking as a reporter types drops most of its requests
                return JSONResponse({"error": "the client closed the request"}, status_code=499)
            answer = await run_in_threadpool(current().ask, question, k=k, mode=mode, filters=filters)
        return JSONResponse(answer.to_dict())

    def documents(request: Request) -> JSONResponse:
        """
        summary: The indexed documents with their source and number of passages, by title, a page at a time
          (offset, limit; all of them without a limit).
        """
        offset = whole_number(request, "offset", 0, 0)
        limit = whole_number(request, "limit", 0, 1) if "limit" in request.query_params else None
        every = current().documents()
        shown = every[offset:] if limit is None else every[offset:offset + limit]
        return JSONResponse({"documents": [asdict(doc) for doc in shown], "total": len(every), "offset": offset})

    def health(request: Request) -> JSONResponse:
        """
        summary: The store this server reads, its model and size.
        """
        store = current().store
        manifest = store.manifest
        return JSONResponse({"status": "degraded" if store.fallback else "ok", "problem": store.fallback,
                             "store": store.location(), "model": manifest.model, "documents": manifest.documents,
                             "chunks": manifest.chunks, "built_at": manifest.built_at})

    def openapi(request: Request) -> JSONResponse:
        return JSONResponse(openapi_schema(app))

    def docs(request: Request) -> HTMLResponse:
        """A page listing the endpoints from the OpenAPI schema (self-contained: no script from a CDN)."""
        return HTMLResponse(docs_page(openapi_schema(app)))

    app = Starlette(
        routes=[Route("/search", search), Route("/ask", ask), Route("/documents", documents),
                Route("/health", health), Route("/openapi.json", openapi, include_in_schema=False),
                Route("/docs", docs, include_in_schema=False)],
        exception_handlers={RequestError: bad_request, QuestionError: bad_request, IndexNotFoundError: unavailable,
                            IndexMismatchError: unavailable, IndexCorruptError: unavailable,
                            StoreUnavailableError: unavailable, HTTPException: http_error, Exception: failure},
        middleware=[*([Middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET"],
                                  allow_headers=["Authorization"])] if cors_origins else []),
                    *([Middleware(RequireToken, token=token)] if token else [])],
    )
    return app


def openapi_schema(app: Starlette) -> dict:
    """The OpenAPI 3 schema: summaries and responses from the endpoints' docstrings, plus the query parameters."""
    schema = SCHEMAS.get_schema(routes=app.routes)
    for path in ("/search", "/ask"):
        schema["paths"][path]["get"]["parameters"] = QUERY_PARAMETERS
    schema["paths"]["/documents"]["get"]["parameters"] = PAGE_PARAMETERS
    for path, shape in RESPONSES.items():
        schema["paths"][path]["get"]["responses"] = {
            "200": {"description": COMPONENTS[shape]["description"], "content": _json(shape)},
            **{code: {"description": why, "content": _json("Error")} for code, why in ERRORS.items()}}
    schema["components"] = {"schemas": COMPONENTS}
    return schema


def _json(shape: str) -> dict:
    """An OpenAPI JSON content entry of a schema of COMPONENTS."""
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}


def bad_request(request: Request, error: Exception) -> JSONResponse:
    """400 with the library's one-line message."""
    return JSONResponse({"error": str(error)}, status_code=400)


def unavailable(request: Request, error: Exception) -> JSONResponse:
    """503 while there is no index this server can read (none built, built with another model, or damaged)."""
    logger.error("%s", error)
    return JSONResponse({"error": str(error)}, status_code=503)


def failure(request: Request, error: Exception) -> JSONResponse:
    """Any other failure (a database refusing a statement, a bug): logged in full for whoever runs the server,
    a one-line JSON 500 for the client."""
    logger.exception("%s %s failed", request.method, request.url.path, exc_info=error)
    return JSONResponse({"error": f"the server failed ({type(error).__name__}); the details are in its log"},
                        status_code=500)


def http_error(request: Request, error: HTTPException) -> JSONResponse:
    """Starlette's own errors (an unknown path, a method other than GET) as JSON, like every other error."""
    return JSONResponse({"error": f"{error.detail}: {request.method} {request.url.path}"},
                        status_code=error.status_code, headers=error.headers)


def docs_page(schema: dict) -> str:
    """HTML describing each endpoint: path, summary, parameters, responses; the raw schema is at /openapi.json."""
    parts = [f"<h1>{html.escape(schema['info']['title'])} API</h1>",
             '<p>OpenAPI 3 schema: <a href="/openapi.json">/openapi.json</a></p>']
    for path, methods in schema.get("paths", {}).items():
        for method, spec in methods.items():
            parts.append(f"<h2>{method.upper()} {html.escape(path)}</h2><p>{html.escape(spec.get('summary', ''))}</p>")
            rows = "".join(
                f"<tr><td><code>{html.escape(p['name'])}</code></td><td>{'required' if p.get('required') else ''}</td>"
                f"<td>{html.escape(json.dumps(p.get('schema', {})))}</td><td>{html.escape(p.get('description', ''))}</td></tr>"
                for p in spec.get("parameters", [])
            )
            if rows:
                parts.append(f"<table border=1 cellpadding=4><tr><th>parameter</th><th></th><th>schema</th>"
                             f"<th></th></tr>{rows}</table>")
            parts.append("<ul>" + "".join(f"<li>{code}: {html.escape(str(r.get('description', '')))}</li>"
                                          for code, r in spec.get("responses", {}).items()) + "</ul>")
    return "<!doctype html><meta charset=utf-8><title>API</title>" + "".join(parts)


MAX_REQUEST_HEAD_BYTES = 4 * 2**20  # uvicorn's default, 16 KB, answered a longer request line in plain text


def server_config(app: Starlette, host: str, port: int, log_level: str = "info") -> uvicorn.Config:
    """How the API is served: uvicorn, with room for a long request line, so a megabyte question still gets the
    API's JSON error (its length named) rather than the HTTP layer's plain-text "Bad Request"."""
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,  # questions are not logged
                          h11_max_incomplete_event_size=MAX_REQUEST_HEAD_BYTES)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, token: str = "",
          cors_origins: Sequence[str] = ()) -> None:
    """Open the store `settings` point at and serve the API until interrupted (`create_app` says what `token`
    and `cors_origins` do)."""
    app = create_app(Retriever.open(None, settings=settings), token, cors_origins)
    uvicorn.Server(server_config(app, host, port)).run()
