"""The HTTP API served by a real uvicorn on 127.0.0.1 over the seed index: --json shapes, 4xx with a message, docs."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import uvicorn

from qa import Embedder, Filters, Retriever, Settings, sync
from qa.api import create_app, server_config
from qa.store import current_generation
from tests.conftest import SEED_QUESTION


@pytest.fixture(scope="module")
def api(seed_retriever: Retriever) -> Iterator[str]:
    """The base URL of an API server on the seed index."""
    with running(seed_retriever) as base:
        yield base


@contextmanager
def running(retriever: Retriever) -> Iterator[str]:
    """The base URL of an API server over `retriever`, running in a thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(server_config(create_app(retriever), "127.0.0.1", port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the API server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def get(base: str, path: str, **params: object) -> tuple[int, dict | str]:
    """Status and decoded body (JSON when it is JSON) of a GET request."""
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            status, body, kind = response.status, response.read().decode(), response.headers["content-type"]
    except urllib.error.HTTPError as error:
        status, body, kind = error.code, error.read().decode(), error.headers["content-type"]
    return status, json.loads(body) if kind.startswith("application/json") else body


def test_ask_returns_what_the_cli_prints_with_json(api: str, seed_retriever: Retriever) -> None:
    status, body = get(api, "/ask", q=SEED_QUESTION, k=3)
    assert status == 200
    assert body == json.loads(json.dumps(seed_retriever.ask(SEED_QUESTION, k=3).to_dict()))
    assert "Kataeb Sayyid al-Shuhada" in body["answer"] and len(body["hits"]) == 3


def test_search_applies_mode_and_filters(api: str, seed_retriever: Retriever) -> None:
    status, body = get(api, "/search", q=SEED_QUESTION, k=4, mode="bm25", source=["Track Persia"])
    assert status == 200 and body["question"] == SEED_QUESTION
    assert [h["chunk_id"] for h in body["hits"]] == [
        h.chunk_id for h in seed_retriever.search(SEED_QUESTION, k=4, mode="bm25",
                                                  filters=Filters(sources=("Track Persia",)))]
    assert {h["publisher"] for h in body["hits"]} == {"Track Persia"}


def test_documents_and_health_describe_the_store(api: str, seed_retriever: Retriever) -> None:
    status, body = get(api, "/documents")
    assert status == 200 and {d["publisher"] for d in body["documents"]} == {"Middle East Eye", "Track Persia"}
    status, body = get(api, "/health")
    assert status == 200 and body["status"] == "ok" and body["documents"] == 2
    assert body["chunks"] == seed_retriever.store.manifest.chunks and body["store"] == seed_retriever.store.location()


@pytest.mark.parametrize(("params", "message"), [
    ({}, "missing the question"),
    ({"q": "   "}, "missing the question"),
    ({"q": SEED_QUESTION, "k": "many"}, "k must be a whole number"),
    ({"q": SEED_QUESTION, "k": 0}, "k must be from 1 to 100"),
    ({"q": SEED_QUESTION, "mode": "fuzzy"}, "unknown mode 'fuzzy'; choose one of hybrid, dense, bm25"),
    ({"q": "x" * 3000}, "characters long"),
    ({"q": b"who \xc3( attacked"}, "not valid UTF-8"),  # was searched as "who \ufffd( attacked"
    ({"q": "x" * 1_000_000}, "characters long"),  # was uvicorn's plain-text "Bad Request" and a reset connection
    ({"q": SEED_QUESTION, "since": "2021-13-45"}, "'2021-13-45' is not a date"),
    ({"q": SEED_QUESTION, "until": "yesterday"}, "'yesterday' is not a date"),
    ({"q": SEED_QUESTION, "since": "2021-12", "until": "2021-11-30"}, "is after the end date"),
])
def test_bad_requests_get_400_with_a_clear_message(api: str, params: dict, message: str) -> None:
    for path in ("/search", "/ask"):
        status, body = get(api, path, **params)
        assert status == 400 and message in body["error"], (path, body)


def test_openapi_schema_and_docs_page_list_every_endpoint(api: str) -> None:
    status, schema = get(api, "/openapi.json")
    assert status == 200 and set(schema["paths"]) == {"/search", "/ask", "/documents", "/health"}
    assert [p["name"] for p in schema["paths"]["/ask"]["get"]["parameters"]] == ["q", "k", "mode", "source", "since",
                                                                                 "until"]
    status, page = get(api, "/docs")
    assert status == 200 and all(f"GET {path}" in page for path in schema["paths"])


def test_unknown_paths_and_methods_get_a_json_error(api: str) -> None:
    status, body = get(api, "/answers", q=SEED_QUESTION)
    assert status == 404 and body == {"error": "Not Found: GET /answers"}
    request = urllib.request.Request(f"{api}/ask?q=who", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 405 and json.loads(refused.value.read())["error"] == "Method Not Allowed: POST /ask"


def test_an_index_rebuilt_with_another_model_gets_503_with_the_reason(fresh_settings: Settings,
                                                                    embedder: Embedder) -> None:
    """The server keeps running when someone rebuilds the index under it with another model: each request says
    why it cannot answer (a one-line JSON error, 503) rather than an Internal Server Error."""
    sync(fresh_settings, embedder)
    with running(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)) as base:
        assert get(base, "/health")[0] == 200
        sync(fresh_settings, Embedder(embedder.source), rebuild=True)
        for path in ("/health", "/ask", "/documents"):
            status, body = get(base, path, q=SEED_QUESTION)
            assert status == 503 and "was built with model" in body["error"], (path, body)


def test_a_server_whose_index_is_damaged_under_it_serves_the_intact_generation_and_says_so(
    fresh_settings: Settings, embedder: Embedder
) -> None:
    """Files of the generation a server had open were truncated: every request answered 503 until someone ran a
    build, while /health said "ok" and a new process served the intact earlier generation."""
    sync(fresh_settings, embedder)
    (fresh_settings.corpus_dir / "extra.txt").write_text("The falcon migration reached Basra in spring.")
    sync(fresh_settings, embedder)
    with running(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)) as base:
        assert get(base, "/health")[1]["status"] == "ok"
        store = current_generation(fresh_settings.index_dir) / "store.sqlite"
        with open(store, "r+b") as handle:
            handle.truncate(store.stat().st_size // 2)
        status, body = get(base, "/ask", q=SEED_QUESTION)
        assert status == 200 and "Kataeb Sayyid al-Shuhada" in body["answer"]
        status, body = get(base, "/health")
        assert status == 200 and body["status"] == "degraded" and "store.sqlite" in body["problem"]
        assert body["documents"] == 2
