"""The Postgres store on a real PostgreSQL 16 + pgvector (pgserver): same answers as the embedded store, syncs
in transactions under an advisory lock, readers served while a sync runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import psycopg
import pytest

from qa import Embedder, Filters, Retriever, Settings, loading, sync
from qa.cli import main
from qa.errors import BuildLockedError, IndexMismatchError, IndexNotFoundError, QAError
from qa.indexer import manifest_for
from qa.pgstore import PostgresWriter, public_url
from tests.conftest import REPO, SEED_QUESTION, copy_seed_corpus

QUESTIONS = [item["question"] for item in json.loads((REPO / "tests" / "seed_questions.json").read_text())]


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A private PostgreSQL server with pgvector in a temporary folder; the test fails (not skips) if it cannot start."""
    import pgserver

    try:
        server = pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    except Exception as error:  # noqa: BLE001 - whatever stops the server from starting is the message to show
        pytest.fail(f"pgserver could not start PostgreSQL: {error}")
    yield server
    server.cleanup()


_databases = iter(range(1_000_000))


@pytest.fixture
def pg_url(pg_server: object) -> str:
    """The URL of a new, empty database on the test server."""
    name = f"qa_test_{next(_databases)}"
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return pg_server.get_uri(name)


@pytest.fixture(scope="session")
def pg_seed(pg_server: object, seed_settings: Settings, embedder: Embedder) -> Settings:
    """Settings of the bundled corpus synced into its own database (do not modify it in tests)."""
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE qa_seed")
    settings = replace(seed_settings, store=pg_server.get_uri("qa_seed"))
    report = sync(settings, embedder)
    assert len(report.added) == 2 and not report.failed
    return settings


def key(hit: object) -> tuple[str, int]:
    """A passage by where it lies (chunk ids are each store's own)."""
    return hit.doc_id, hit.start


def ranking(hits: list) -> list[tuple[float, str, int]]:
    """Hits as (score, place), tied scores put in place order: each store breaks ties by its own chunk ids."""
    return sorted(((round(-h.score, 4), *key(h)) for h in hits))


def test_postgres_search_matches_the_embedded_store(pg_seed: Settings, seed_retriever: Retriever,
                                                    embedder: Embedder) -> None:
    postgres = Retriever.open(pg_seed.store, embedder)
    assert postgres.store.manifest.chunks == seed_retriever.store.manifest.chunks
    overlap = []
    for question in QUESTIONS:
        embedded_bm25 = seed_retriever.search(question, k=10, mode="bm25")
        postgres_bm25 = postgres.search(question, k=10, mode="bm25")
        assert [key(h) for h in postgres_bm25] == [key(h) for h in embedded_bm25], question
        np.testing.assert_allclose([h.score for h in postgres_bm25], [h.score for h in embedded_bm25], atol=1e-5)
        embedded_dense = {key(h) for h in seed_retriever.search(question, k=10, mode="dense")}
        overlap.append(len(embedded_dense & {key(h) for h in postgres.search(question, k=10, mode="dense")}) / 10)
        hybrid = [key(h) for h in postgres.search(question, k=10)]
        assert hybrid == [key(h) for h in seed_retriever.search(question, k=10)], question
    assert np.mean(overlap) >= 0.98
    assert postgres.ask(SEED_QUESTION).text == seed_retriever.ask(SEED_QUESTION).text


def test_postgres_documents_and_idf_match_the_embedded_store(pg_seed: Settings, seed_retriever: Retriever,
                                                             embedder: Embedder) -> None:
    postgres = Retriever.open(pg_seed.store, embedder)
    assert postgres.documents() == seed_retriever.documents()
    doc_id = seed_retriever.documents()[0].doc_id
    assert postgres.document(doc_id) == seed_retriever.document(doc_id)
    terms = ["kadhimi", "drone", "neverseenterm"]
    np.testing.assert_allclose(postgres.store.idf(terms), seed_retriever.store.idf(terms), rtol=1e-9)


def test_postgres_filters_by_source_and_date(pg_seed: Settings, embedder: Embedder) -> None:
    postgres = Retriever.open(pg_seed.store, embedder)
    for mode in ("hybrid", "dense", "bm25"):
        hits = postgres.search(SEED_QUESTION, k=10, mode=mode, filters=Filters(sources=("Track Persia",)))
        assert hits and {h.publisher for h in hits} == {"Track Persia"}, mode
        assert not postgres.search(SEED_QUESTION, k=10, mode=mode, filters=Filters(since="2030-01-01")), mode
    dates = {h.date for h in postgres.search(SEED_QUESTION, k=10, filters=Filters(until="2021-11-20"))}
    assert dates and all(date <= "2021-11-20" for date in dates)


def test_postgres_incremental_sync_and_remove_keep_bm25_exact(pg_url: str, fresh_settings: Settings,
                                                              embedder: Embedder) -> None:
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    added = settings.corpus_dir / "mosul.txt"
    added.write_text("---\nurl: https://www.example.org/mosul-minaret\n---\n"
                     "Crews in Mosul rebuilt the al-Nuri mosque and its leaning minaret after the war.")
    report = sync(settings, embedder)
    assert report.added == ["mosul.txt"] and len(report.unchanged) == 2 and report.chunks_embedded == 1
    postgres = Retriever.open(pg_url, embedder)
    hit = postgres.search("al-Nuri minaret", k=1)[0]
    assert (hit.doc_id, hit.url) == ("mosul.txt", "https://www.example.org/mosul-minaret")

    removed = sorted(settings.corpus_dir.glob("trackpersia*"))[0]
    removed.unlink()
    report = sync(settings, embedder)
    assert report.removed == [removed.name]
    assert {doc.doc_id for doc in postgres.documents()} == {"mosul.txt", "middleeasteye-2021-11-28-betrayed-by-iran.txt"}
    # after an add and a remove, the kept statistics give the scores of an index built from scratch
    sync(replace(settings, store=""), embedder)
    embedded = Retriever.open(settings.index_dir, embedder)
    for question in QUESTIONS[:8]:
        expected = embedded.search(question, k=10, mode="bm25")
        found = postgres.search(question, k=10, mode="bm25")
        assert [key(h) for h in found] == [key(h) for h in expected], question
        np.testing.assert_allclose([h.score for h in found], [h.score for h in expected], atol=1e-5)


def test_a_postgres_store_read_again_by_newer_readers_keeps_its_vectors(pg_url: str, fresh_settings: Settings,
                                                                        embedder: Embedder,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """As the index folder does: the upgrade re-reads every file, and passages that came out as they were keep
    the vectors the database holds (bit for bit: the same dense ranking and scores)."""
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    postgres = Retriever.open(pg_url, embedder)
    before = ranking(postgres.search(SEED_QUESTION, k=10, mode="dense"))
    monkeypatch.setattr(loading, "READING_VERSION", loading.READING_VERSION + 1)
    report = sync(settings, embedder)
    assert len(report.reread) == 2 and report.chunks_embedded == 0
    assert ranking(postgres.search(SEED_QUESTION, k=10, mode="dense")) == before


def test_parallel_ingest_writes_the_same_index_as_one_process(pg_url: str, fresh_settings: Settings,
                                                              embedder: Embedder) -> None:
    """Two worker processes, one document per transaction each, give the BM25 scores and passages of a plain build."""
    for number, town in enumerate(["Mosul", "Basra", "Erbil", "Najaf"]):
        (fresh_settings.corpus_dir / f"town-{number}.txt").write_text(
            f"Crews in {town} rebuilt the market after the war. The drone attack on the prime minister's home "
            f"in Baghdad was condemned by the governor of {town}.")
    settings = replace(fresh_settings, store=pg_url, batch_documents=1)
    # as a user runs it, in its own process (the page's test leaves Streamlit's script as this process's
    # __main__, which spawned workers would run again)
    done = subprocess.run([sys.executable, "-m", "qa", "build", "--corpus", str(settings.corpus_dir), "--store", pg_url,
                           "--workers", "2"], cwd=REPO, env={**os.environ, "QA_BATCH_DOCUMENTS": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "6 added" in done.stdout and "0 failed" in done.stdout
    sync(replace(settings, store=""), embedder)
    embedded, postgres = Retriever.open(settings.index_dir, embedder), Retriever.open(pg_url, embedder)
    chunks = postgres.store.manifest.chunks
    assert chunks == embedded.store.manifest.chunks
    # the workers insert documents in either order, so the four towns' equal scores may come in another order:
    # every passage is asked for, so no tie is cut at k
    for question in [*QUESTIONS[:6], "who condemned the drone attack in Basra"]:
        expected = embedded.search(question, k=chunks, mode="bm25")
        found = postgres.search(question, k=chunks, mode="bm25")
        assert ranking(found) == ranking(expected), question
        np.testing.assert_allclose([h.score for h in found], [h.score for h in expected], atol=1e-5)
    assert main(["build", "--corpus", str(settings.corpus_dir), "--index", str(settings.index_dir),
                 "--workers", "2"]) == 1  # an index folder is written by one process: a clear error, no traceback
    rebuilt = subprocess.run([sys.executable, "-m", "qa", "build", "--corpus", str(settings.corpus_dir), "--store",
                              pg_url, "--workers", "2", "--rebuild"], cwd=REPO,
                             env={**os.environ, "QA_BATCH_DOCUMENTS": "1"}, capture_output=True, text=True, timeout=600)
    assert rebuilt.returncode == 0 and "6 added" in rebuilt.stdout, rebuilt.stderr  # the workers wrote aside too
    assert Retriever.open(pg_url, embedder).store.manifest.chunks == chunks


def test_postgres_refuses_an_index_of_another_model_or_format(pg_url: str, fresh_settings: Settings,
                                                               embedder: Embedder) -> None:
    settings = replace(fresh_settings, store=pg_url)
    with pytest.raises(IndexNotFoundError, match="build it with"):
        Retriever.open(pg_url, embedder)
    sync(settings, embedder)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE qa_manifest SET model = 'some-other-model'")
    with pytest.raises(IndexMismatchError, match="some-other-model.*rebuild"):
        Retriever.open(pg_url, embedder)
    with pytest.raises(IndexMismatchError, match="some-other-model"):
        sync(settings, embedder)
    report = sync(settings, embedder, rebuild=True)
    assert report.rebuilt and len(report.added) == 2
    assert Retriever.open(pg_url, embedder).search(SEED_QUESTION, k=1)
    with psycopg.connect(pg_url, autocommit=True) as conn:  # format 1 kept no URLs
        conn.execute("UPDATE qa_manifest SET format_version = 1")
    with pytest.raises(IndexMismatchError, match="format 1.*--rebuild"):
        sync(settings, embedder)


def add_fillers(corpus: Path, count: int) -> None:
    for i in range(count):
        (corpus / f"filler-{i:02d}.txt").write_text(
            f"Report {i} on reconstruction in Mosul. " + "Crews rebuilt bridges, schools and markets. " * 25
        )


def test_postgres_readers_answer_during_a_sync_and_see_whole_batches(pg_url: str, fresh_settings: Settings,
                                                                     embedder: Embedder) -> None:
    settings = replace(fresh_settings, store=pg_url, batch_documents=10)
    sync(settings, embedder)
    add_fillers(settings.corpus_dir, 40)
    reader = Retriever.open(pg_url, embedder)
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            while not done.is_set():
                assert reader.search(SEED_QUESTION, k=3), "a reader always gets passages"
                seen.append(len(reader.documents()))
        except BaseException as error:  # noqa: BLE001 - reported by the main thread
            errors.append(error)

    done = threading.Event()
    thread = threading.Thread(target=read)
    thread.start()
    try:
        sync(settings, embedder)
    finally:
        done.set()
        thread.join()
    assert not errors, errors
    assert seen == sorted(seen) and seen[0] >= 2 and len(reader.documents()) == 42
    assert set(seen) <= {2, 12, 22, 32, 42}, "documents appear in whole batches of 10"


def test_two_postgres_syncs_are_serialized(pg_url: str, fresh_settings: Settings, embedder: Embedder) -> None:
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    add_fillers(settings.corpus_dir, 3)
    holder = PostgresWriter(pg_url, 64)
    reports = []
    try:
        with holder.lock():
            with pytest.raises(BuildLockedError, match="another build"):
                sync(settings, embedder, wait=False)
            waiting = threading.Thread(target=lambda: reports.append(sync(settings, embedder)))
            waiting.start()
            waiting.join(timeout=2)
            assert waiting.is_alive(), "the second sync waits for the lock"
        waiting.join()
    finally:
        holder.close()
    assert len(reports[0].added) == 3


def test_postgres_sync_killed_while_embedding_leaves_the_last_committed_state(
    pg_url: str, fresh_settings: Settings, embedder: Embedder
) -> None:
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    add_fillers(settings.corpus_dir, 60)
    build = subprocess.Popen(
        [sys.executable, "-m", "qa", "build", "-v", "--corpus", str(settings.corpus_dir), "--store", pg_url],
        cwd=REPO, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    for line in build.stderr:
        if "Embedding" in line:
            break
    time.sleep(0.5)
    build.send_signal(signal.SIGKILL)
    build.wait()
    retriever = Retriever.open(pg_url, embedder)
    assert len(retriever.documents()) == 2 and retriever.search(SEED_QUESTION, k=3)
    report = sync(settings, embedder)
    assert len(report.added) == 60 and len(retriever.documents()) == 62


def test_cli_builds_asks_and_describes_a_postgres_store(pg_url: str, fresh_settings: Settings,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    corpus = ["--corpus", str(fresh_settings.corpus_dir), "--store", pg_url]
    assert main(["build", *corpus]) == 0
    capsys.readouterr()
    assert main(["ask", SEED_QUESTION, "--json", *corpus]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert "Kataeb" in answer["answer"] and len(answer["hits"]) == 5
    assert main(["info", "--json", *corpus]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["index"].startswith("postgresql://") and len(info["documents"]) == 2
    assert info["manifest"]["faiss_factory"].startswith("pgvector hnsw")


def test_a_reader_connects_again_after_the_server_drops_its_connection(pg_seed: Settings, embedder: Embedder,
                                                                       pg_server: object) -> None:
    """A restart, a failover or an idle-session timeout ends the connection a `serve` process holds; the next
    request must connect again, not fail until someone restarts the process."""
    retriever = Retriever.open(pg_seed.store, embedder)
    before = [key(hit) for hit in retriever.search(SEED_QUESTION, k=3)]
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        ended = admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = 'qa_seed' AND pid <> pg_backend_pid()").fetchall()
    assert ended
    assert [key(hit) for hit in retriever.search(SEED_QUESTION, k=3)] == before
    assert retriever.ask(SEED_QUESTION).confident


def test_a_search_and_its_passages_see_one_state_of_the_database(pg_url: str, fresh_settings: Settings,
                                                                  embedder: Embedder) -> None:
    """A sync committing between a search and the fetch of its passages made searches return fewer passages."""
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    store = Retriever.open(pg_url, embedder).store
    with store.snapshot():
        found = store.keyword("Kadhimi drone attack", 10)
        writer = PostgresWriter(pg_url, 64)
        with writer.lock():
            writer.write({doc.doc_id for doc in store.documents()}, [], np.zeros((0, embedder.dimension)))
        writer.close()
        assert len(store.chunk_rows(found.ids)) == len(found.ids) > 0
    assert store.chunk_rows(found.ids) == {}  # after it, the deletion is seen


def test_a_reader_refuses_an_index_rebuilt_under_it_with_another_model(pg_url: str, fresh_settings: Settings,
                                                                       embedder: Embedder) -> None:
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    retriever = Retriever.open(pg_url, embedder)
    assert retriever.is_current()
    sync(settings, Embedder(embedder.source), rebuild=True)
    assert not retriever.is_current()
    with pytest.raises(IndexMismatchError, match="was built with model.*--rebuild"):
        retriever.refreshed()


def test_a_password_in_the_url_is_never_shown() -> None:
    assert public_url("postgresql://qa:secret@db/news") == "postgresql://qa@db/news"
    assert public_url("postgresql:///news?host=/tmp/pg&user=qa&password=secret") == (
        "postgresql:///news?host=/tmp/pg&user=qa&password=***")


def test_a_rebuild_with_a_mistyped_corpus_drops_nothing(pg_url: str, fresh_settings: Settings, embedder: Embedder,
                                                        tmp_path: Path) -> None:
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    with pytest.raises(QAError, match="typo does not exist"):
        sync(replace(settings, corpus_dir=tmp_path / "typo"), embedder, rebuild=True)
    assert len(Retriever.open(pg_url, embedder).documents()) == 2


def test_a_role_that_may_not_create_pgvector_is_told_to_ask_an_administrator(pg_server: object,
                                                                            fresh_settings: Settings,
                                                                            embedder: Embedder) -> None:
    with psycopg.connect(pg_server.get_uri(), autocommit=True) as admin:
        admin.execute("CREATE ROLE qa_plain LOGIN")
        admin.execute("CREATE DATABASE qa_novec OWNER qa_plain")
    url = pg_server.get_uri("qa_novec").replace("postgres:", "qa_plain:", 1)
    with pytest.raises(QAError) as refused:
        sync(replace(fresh_settings, store=url), embedder)
    assert str(refused.value).endswith("have an administrator run `CREATE EXTENSION vector;` in that database")


def test_a_rebuild_leaves_readers_the_whole_old_index_until_it_is_done(pg_url: str, pg_server: object,
                                                                      fresh_settings: Settings,
                                                                      embedder: Embedder) -> None:
    """A --rebuild of a shared database once emptied it for every reader while it ran, and a killed one left
    it half full; it now writes aside and swaps, keeping the grants a read-only role had."""
    settings = replace(fresh_settings, store=pg_url)
    sync(settings, embedder)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("DO $$ BEGIN CREATE ROLE qa_reader LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO qa_reader")
    reader_url = pg_url.replace("postgres:", "qa_reader:", 1)
    reader = Retriever.open(reader_url, embedder)
    before = [key(hit) for hit in reader.search(SEED_QUESTION, k=3)]

    killed = PostgresWriter(pg_url, 64)  # a rebuild that dies after writing its first tables
    with killed.lock():
        killed.prepare(manifest_for(settings, embedder), rebuild=True)
        killed.write(set(), [], np.zeros((0, embedder.dimension), np.float32))
        assert len(reader.documents()) == 2 and [key(hit) for hit in reader.search(SEED_QUESTION, k=3)] == before
    killed.close()
    assert sync(settings, embedder).unchanged  # the old index is whole; what the rebuild left is cleared

    report = sync(settings, embedder, rebuild=True)
    assert report.rebuilt and len(report.added) == 2
    assert [key(hit) for hit in reader.search(SEED_QUESTION, k=3)] == before  # the read-only role reads on
    with psycopg.connect(pg_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'qa_rebuild'").fetchone()[0] == 0


def test_the_workers_of_a_killed_parallel_build_end_with_it(pg_url: str, fresh_settings: Settings) -> None:
    """They went on writing without the build's lock, and lingered with open connections, after a kill -9."""
    add_fillers(fresh_settings.corpus_dir, 40)
    build = subprocess.Popen([sys.executable, "-m", "qa", "build", "--corpus", str(fresh_settings.corpus_dir),
                              "--store", pg_url, "--workers", "2"], cwd=REPO,
                             env={**os.environ, "QA_BATCH_DOCUMENTS": "1"}, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(workers := children(build.pid)) < 2:
        assert time.monotonic() < deadline and build.poll() is None, "the build did not start its workers"
        time.sleep(0.2)
    build.kill()
    build.wait()
    deadline = time.monotonic() + 20
    while any(running(pid) for pid in workers):
        assert time.monotonic() < deadline, f"workers {workers} outlived their build"
        time.sleep(0.2)


def running(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie waiting to be reaped has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc), the multiprocessing resource tracker left out."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and b"resource_tracker" not in command:
            found.append(int(stat.parent.name))
    return found
