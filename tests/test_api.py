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
from tests.conftest import SEED_QUESTION, add_syndicated_copy


@pytest.fixture(scope="module")
def api(seed_retriever: Retriever) -> Iterator[str]:
    """The base URL of an API server on the seed index."""
    with running(seed_retriever) as base:
        yield base


@contextmanager
def running(retriever: Retriever, **options: object) -> Iterator[str]:
    """The base URL of an API server over `retriever` (`create_app` with `options`), in a thread of this process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(server_config(create_app(retriever, **options), "127.0.0.1", port, log_level="warning"))
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


def get(base: str, path: str, headers: dict | None = None, method: str = "GET",
        **params: object) -> tuple[int, dict | str]:
    """Status and decoded body (JSON when it is JSON) of a GET (or `method`) request."""
    return call(base, path, headers, method, **params)[:2]


def call(base: str, path: str, headers: dict | None = None, method: str = "GET",
         **params: object) -> tuple[int, dict | str, dict]:
    """`get`, and the response's headers."""
    url = f"{base}{path}?{urllib.parse.urlencode(params, doseq=True)}"
    request = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, body, given = response.status, response.read().decode(), response.headers
    except urllib.error.HTTPError as error:
        status, body, given = error.code, error.read().decode(), error.headers
    kind = given["content-type"] or ""
    return status, json.loads(body) if kind.startswith("application/json") else body, dict(given)


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
    assert body["built_at"] == seed_retriever.store.manifest.built_at  # a client sees a new build by it


def test_documents_come_a_page_at_a_time(api: str) -> None:
    """An archive of thousands was one response of megabytes: offset and limit page through it, total counts it."""
    every = get(api, "/documents")[1]
    assert every["total"] == len(every["documents"]) == 2 and every["offset"] == 0
    page = get(api, "/documents", offset=1, limit=1)[1]
    assert page["documents"] == every["documents"][1:] and page["total"] == 2 and page["offset"] == 1
    assert get(api, "/documents", offset=5)[1]["documents"] == []
    for params, message in (({"limit": 0}, "limit must be at least 1, not 0"),
                            ({"offset": "-1"}, "offset must be a whole number at least 0")):
        status, body = get(api, "/documents", **params)
        assert status == 400 and message in body["error"], body


def test_an_empty_source_field_filters_nothing(api: str) -> None:
    """A form or URLSearchParams sends its empty fields: source= returned no passage at all."""
    assert get(api, "/ask", q=SEED_QUESTION, source="", since="")[1] == get(api, "/ask", q=SEED_QUESTION)[1]


def test_with_a_token_only_requests_carrying_it_are_answered(seed_retriever: Retriever) -> None:
    with running(seed_retriever, token="s3cret") as base:
        status, body = get(base, "/ask", q=SEED_QUESTION)
        assert status == 401 and "Authorization: Bearer" in body["error"]
        assert get(base, "/documents", headers={"Authorization": "Bearer wrong"})[0] == 401
        assert get(base, "/ask", headers={"Authorization": "Bearer s3cret"}, q=SEED_QUESTION)[0] == 200
        assert get(base, "/health")[0] == 200  # a load balancer's probe needs none


def test_a_browser_page_of_an_allowed_origin_may_call_the_api(seed_retriever: Retriever) -> None:
    """A CMS's page calling from the browser was refused: no CORS headers, and its preflight got 405."""
    with running(seed_retriever, cors_origins=["https://cms.example.org"]) as base:
        status, _, headers = call(base, "/ask", {"Origin": "https://cms.example.org",
                                                 "Access-Control-Request-Method": "GET",
                                                 "Access-Control-Request-Headers": "Authorization"}, "OPTIONS")
        assert status == 200 and headers["access-control-allow-origin"] == "https://cms.example.org"
        status, _, headers = call(base, "/search", {"Origin": "https://cms.example.org"}, q=SEED_QUESTION)
        assert status == 200 and headers["access-control-allow-origin"] == "https://cms.example.org"
        assert "access-control-allow-origin" not in call(base, "/search", {"Origin": "https://evil.example"},
                                                         q=SEED_QUESTION)[2]


class CountingRetriever(Retriever):
    """The real retriever, counting the answers it computes."""

    answered = 0

    def ask(self, *args: object, **options: object):
        type(self).answered += 1
        return super().ask(*args, **options)


def test_a_question_whose_client_left_while_it_waited_is_not_answered(seed_retriever: Retriever) -> None:
    """A CMS sidebar asking as a reporter types drops most of its requests; each was still answered, so the one
    it waited for came seconds late. At most ASKS_AT_ONCE are answered at once, and one whose client is gone by
    its turn is skipped."""
    retriever = CountingRetriever(seed_retriever.store, seed_retriever.embedder, seed_retriever.settings)
    with running(retriever) as base:
        port = int(base.rsplit(":", 1)[1])
        query = urllib.parse.urlencode({"q": SEED_QUESTION})
        for _ in range(8):  # each sent, then given up on at once
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(f"GET /ask?{query} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        status, body = get(base, "/ask", q=SEED_QUESTION)  # queued behind them
    assert status == 200 and "Kataeb" in body["answer"]
    assert CountingRetriever.answered <= 4, CountingRetriever.answered  # 9 without the check


@pytest.mark.parametrize(("params", "message"), [
    ({}, "missing the question"),
    ({"q": "   "}, "missing the question"),
    ({"q": SEED_QUESTION, "k": "many"}, "k must be a whole number"),
    ({"q": SEED_QUESTION, "k": 0}, "k must be from 1 to 100"),
    ({"q": SEED_QUESTION, "k": " 5"}, "k must be a whole number"),  # int() took it, and "1_0" and "٥"
    ({"q": SEED_QUESTION, "k": "٥"}, "k must be a whole number"),
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


def conforms(value: object, schema: dict, components: dict, where: str = "") -> list[str]:
    """Where `value` breaks the OpenAPI `schema` (types, required properties, nullable, arrays, $ref, allOf)."""
    if "$ref" in schema:
        return conforms(value, components[schema["$ref"].rsplit("/", 1)[1]], components, where)
    if value is None:
        return [] if schema.get("nullable") else [f"{where}: null"]
    if "allOf" in schema:
        return [problem for part in schema["allOf"] for problem in conforms(value, part, components, where)]
    types = {"object": dict, "array": list, "string": str, "integer": int, "number": (int, float), "boolean": bool}
    kind = schema.get("type")
    if kind and (not isinstance(value, types[kind]) or (kind in ("integer", "number") and isinstance(value, bool))):
        return [f"{where}: {type(value).__name__}, not {kind}"]
    if kind == "array":
        return [problem for i, item in enumerate(value) for problem in conforms(item, schema["items"], components,
                                                                                  f"{where}[{i}]")]
    if kind == "object":
        missing = [f"{where}.{name}: missing" for name in schema.get("required", []) if name not in value]
        extra = [f"{where}.{name}: not in the schema" for name in value if name not in schema["properties"]]
        return missing + extra + [problem for name, part in schema["properties"].items() if name in value
                                  for problem in conforms(value[name], part, components, f"{where}.{name}")]
    return []


def test_every_response_is_what_the_schema_says(fresh_settings: Settings, embedder: Embedder) -> None:
    """An integrator generates a client from /openapi.json: every field of every response, nested hits and
    copies included, is there with its type, and every error is the Error shape (the schema described none)."""
    add_syndicated_copy(fresh_settings.corpus_dir)
    sync(fresh_settings, embedder)
    with running(Retriever.open(fresh_settings.index_dir, embedder, fresh_settings)) as base:
        schema = get(base, "/openapi.json")[1]
        components = schema["components"]["schemas"]
        asked = {"/search": {"q": SEED_QUESTION, "k": 5}, "/ask": {"q": SEED_QUESTION, "k": 5},
                 "/documents": {}, "/health": {}}
        for path, params in asked.items():
            status, body = get(base, path, **params)
            shape = schema["paths"][path]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
            assert conforms(body, shape, components, path) == [], path
        assert any(hit["copies"] for hit in get(base, "/ask", q=SEED_QUESTION)[1]["hits"])  # copies were checked
        status, body = get(base, "/ask", q=SEED_QUESTION, k=0)
        shape = schema["paths"]["/ask"]["get"]["responses"][str(status)]["content"]["application/json"]["schema"]
        assert conforms(body, shape, components) == []


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
