"""The Postgres store: one PostgreSQL database with pgvector holds documents, chunks, vectors and BM25 postings.

Chosen by a postgresql:// URL (`--store`, `QA_STORE`, `Settings.store`). Tables:

    qa_manifest    one row: model, dimension, chunker, format; checked on open
    qa_documents   one row per document: text, metadata, page spans, content hash
    qa_chunks      one row per chunk: span, page, text, BM25 length, vector(dimension) under an HNSW index
    qa_postings    (term, chunk_id, tf, length): the keyword index, one row per term of a chunk
    qa_terms       (term, df): in how many chunks each term occurs
    qa_stats       one row: number of chunks and their total BM25 length (for idf and the mean length)
    qa_sync        one row: the last sync's report

Keyword search is scored in SQL with the embedded store's formula (bm25s's Lucene variant with qa.bm25's
K1 and B) over the same terms (qa.bm25's tokenizer and stemmer), so both stores give the same BM25 scores.
A sync holds an advisory lock (two syncs run one after the other) and writes one transaction per batch of
documents, so readers see a whole batch or none of it and a killed sync leaves the last committed state. A
--rebuild writes its tables aside, in the schema REBUILD_SCHEMA, and swaps them in when it is done: readers keep
the whole old index until then, and a rebuild that fails or is killed leaves it as it was.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TypeVar
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import numpy as np

from qa.bm25 import B, K1
from qa.chunking import embedding_text
from qa.errors import BuildLockedError, IndexMismatchError, IndexNotFoundError, QAError, StoreUnavailableError
from qa.records import Chunk, Document, SyncReport
from qa.storage import (
    REBUILD_ASKED, Candidates, DocumentRow, Filters, Manifest, Store, Writer, document_from_row, filter_sql,
    pages_json,
)
from qa.text import query_terms, tokenize

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row
except ImportError:  # pragma: no cover - psycopg is in requirements.txt; the embedded store does not need it
    psycopg = None

logger = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_KEY = 0x71615F73796E63  # "qa_sync": the advisory lock a sync holds
DENSE_INDEX = "pgvector hnsw (m=16, ef_construction=64, inner product)"
WRITE_ATTEMPTS = 3  # a batch aborted by a deadlock with another ingest worker is written again up to this often
# hnsw.ef_search for a top-n search: at least n (pgvector returns at most ef_search rows), and 2n for recall
EF_SEARCH_MAX = 1000
_MANIFEST_FIELDS = ("model", "dimension", "chunk_tokens", "overlap_tokens", "faiss_factory", "built_at",
                    "format_version")


def _schema(dimension: int) -> str:
    """The tables of a new index for vectors of `dimension`."""
    return f"""
    CREATE TABLE qa_manifest (
        id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), model text, dimension int, chunk_tokens int,
        overlap_tokens int, faiss_factory text, built_at text, format_version int);
    CREATE TABLE qa_documents (
        doc_id text PRIMARY KEY, path text, title text, publisher text, author text, date text,
        content_hash text, text text, pages text, added_at double precision, url text);
    CREATE TABLE qa_chunks (
        chunk_id bigint PRIMARY KEY, doc_id text NOT NULL, ordinal int, start int, "end" int, page int,
        tokens int, text text, length int, embedding vector({dimension}));
    CREATE INDEX qa_chunks_by_doc ON qa_chunks (doc_id);
    CREATE INDEX qa_chunks_embedding ON qa_chunks USING hnsw (embedding vector_ip_ops);
    CREATE TABLE qa_postings (term text, chunk_id bigint, tf int, length int, PRIMARY KEY (term, chunk_id));
    CREATE INDEX qa_postings_by_chunk ON qa_postings (chunk_id);
    CREATE TABLE qa_terms (term text PRIMARY KEY, df int);
    CREATE TABLE qa_stats (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), chunks bigint, total_length bigint);
    INSERT INTO qa_stats VALUES (1, 0, 0);
    CREATE TABLE qa_sync (id int PRIMARY KEY DEFAULT 1 CHECK (id = 1), report text);
    CREATE SEQUENCE qa_chunk_ids MINVALUE 0 START 0;
    """


_TABLES = ("qa_manifest", "qa_documents", "qa_chunks", "qa_postings", "qa_terms", "qa_stats", "qa_sync")


REBUILD_SCHEMA = "qa_rebuild"  # where a --rebuild writes its tables until they replace the live ones


def public_url(url: str) -> str:
    """The URL without its password (`user:secret@`, `?password=secret`, or `password=secret` in a key=value
    DSN), for messages, `info` and /health."""
    url = re.sub(r"(://[^:/@]*):[^@]*@", r"\1@", url)
    return re.sub(r"((?:^|[?&\s])password=)[^&\s]*", r"\1***", url, flags=re.IGNORECASE)  # a URL's or a DSN's


def one_line(error: Exception) -> str:
    """A database error's message on one line (libpq adds hints on lines of their own)."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip())


def connect(url: str) -> psycopg.Connection:
    """An autocommit connection returning dict rows; StoreUnavailableError naming the server if it cannot be
    reached."""
    if psycopg is None:
        raise QAError("the Postgres store needs psycopg: pip install 'psycopg[binary]'")
    try:
        return psycopg.connect(url, autocommit=True, row_factory=dict_row)
    except psycopg.Error as error:
        raise StoreUnavailableError(f"cannot connect to {public_url(url)}: {one_line(error)}") from None


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of a vector; Python's float repr round-trips each float32 exactly."""
    return "[" + ",".join(map(repr, np.asarray(vector, dtype=np.float32).ravel().tolist())) + "]"


def read_manifest(conn: psycopg.Connection) -> Manifest | None:
    """The index's manifest with live counts, or None if this database holds no index."""
    if conn.execute("SELECT to_regclass('qa_manifest') AS t").fetchone()["t"] is None:
        return None
    row = conn.execute(
        f"""SELECT {", ".join(_MANIFEST_FIELDS)}, (SELECT count(*) FROM qa_documents) AS documents,
                   (SELECT chunks FROM qa_stats) AS chunks FROM qa_manifest"""
    ).fetchone()
    return Manifest(**row) if row else None


class PostgresStore(Store):
    """An index in a PostgreSQL database, read live: every query sees the last committed sync batch, and a search
    with the fetch of its passages sees one state (`snapshot`). A connection the server drops (a restart, a
    failover, an idle-session timeout) is opened again on the next read."""


    def __init__(self, url: str, conn: psycopg.Connection) -> None:
        self.url = url
        self.conn = conn
        # one statement at a time on the shared connection (page and API threads); reentrant for `snapshot`
        self._lock = threading.RLock()
        self._in_snapshot = False
        self._built_for = self._identity()

    @classmethod
    def open(cls, url: str) -> PostgresStore:
        """Connect and check that the database holds an index; IndexNotFoundError if it holds none."""
        conn = connect(url)
        if read_manifest(conn) is None:
            conn.close()
            raise IndexNotFoundError(f"no index in {public_url(url)}; build it with `python -m qa build --store URL`")
        return cls(url, conn)

    def _run(self, work: Callable[[psycopg.Connection], T]) -> T:
        """`work` on the connection, one caller at a time. Outside a snapshot, a connection the server dropped is
        opened again and `work` (a read) tried once more; StoreUnavailableError when the server cannot be
        reached."""
        with self._lock:
            try:
                return work(self._connection())
            except psycopg.OperationalError as error:
                self.conn.close()
                if self._in_snapshot:
                    raise self._lost(error) from None
                logger.warning("the connection to %s was dropped (%s); connecting again", self.location(),
                               one_line(error))
            try:
                return work(self._connection())
            except psycopg.OperationalError as error:
                self.conn.close()
                raise self._lost(error) from None

    def _connection(self) -> psycopg.Connection:
        """The open connection, or a new one when the last was closed (StoreUnavailableError if none can be made)."""
        if self.conn.closed:
            self.conn = connect(self.url)
        return self.conn

    def _lost(self, error: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(f"lost the connection to {self.location()} ({one_line(error)}); "
                                     "the next request connects again")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One REPEATABLE READ transaction: a search and the fetch of its passages see the same chunks, so a sync
        committing between them cannot silently drop passages from the result."""
        with self._lock:
            self._run(lambda conn: conn.execute("SELECT 1"))  # a dropped connection is opened again first
            try:
                with self.conn.transaction():
                    self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    self._in_snapshot = True
                    yield
            except psycopg.OperationalError as error:
                self.conn.close()
                raise self._lost(error) from None
            finally:
                self._in_snapshot = False

    def _identity(self) -> tuple | None:
        """What this reader was opened for: the index's model, dimension and format (None when there is none)."""
        def read(conn: psycopg.Connection) -> tuple | None:
            try:
                row = conn.execute("SELECT model, dimension, format_version FROM qa_manifest").fetchone()
            except psycopg.errors.UndefinedTable:  # dropped by a rebuild that has not made it again yet
                return None
            return (row["model"], row["dimension"], row["format_version"]) if row else None
        return self._run(read)

    @property
    def manifest(self) -> Manifest:
        manifest = self._run(read_manifest)
        if manifest is None:
            raise IndexNotFoundError(f"the index in {self.location()} was dropped; build it again")
        return manifest

    def dense(self, query: np.ndarray, n: int, filters: Filters | None = None) -> Candidates:
        vector = vector_literal(query)
        if filters:
            sql, params = filter_sql(filters, "%s")
            # an exact scan of the allowed chunks: an HNSW scan filtered afterwards can return fewer than n
            statement = f"""WITH allowed AS MATERIALIZED (
                                SELECT c.chunk_id, c.embedding FROM qa_chunks c JOIN qa_documents d USING (doc_id)
                                WHERE {sql})
                            SELECT chunk_id, -(embedding <#> %s::vector) AS score FROM allowed
                            ORDER BY embedding <#> %s::vector, chunk_id LIMIT %s"""
            return self._candidates(statement, [*params, vector, vector, n])
        statement = """SELECT chunk_id, -(embedding <#> %s::vector) AS score FROM qa_chunks
                       ORDER BY embedding <#> %s::vector LIMIT %s"""
        return self._candidates(statement, [vector, vector, n], ef_search=min(max(2 * n, 40), EF_SEARCH_MAX))

    def keyword(self, question: str, n: int, filters: Filters | None = None) -> Candidates:
        terms = query_terms(question)
        if not terms:
            return Candidates()
        sql, params = filter_sql(filters or Filters(), "%s")
        documents = "JOIN qa_chunks c USING (chunk_id) JOIN qa_documents d USING (doc_id)" if filters else ""
        # each query term counts as often as it occurs in the query, as in bm25s
        statement = f"""
            SELECT p.chunk_id, SUM(
                ln(1 + (s.chunks - t.df + 0.5::float8) / (t.df + 0.5::float8)) * p.tf
                / (p.tf + %s * (1 - %s + %s * p.length / greatest(s.total_length::float8 / greatest(s.chunks, 1), 1e-9::float8)))
            ) AS score
            FROM unnest(%s::text[]) AS q(term)
            JOIN qa_terms t ON t.term = q.term
            JOIN qa_postings p ON p.term = q.term {documents}
            CROSS JOIN qa_stats s
            WHERE {sql}
            GROUP BY p.chunk_id ORDER BY score DESC, p.chunk_id LIMIT %s"""
        return self._candidates(statement, [K1, B, B, terms, *params, n])

    def _candidates(self, statement: str, params: Sequence[object], ef_search: int = 0) -> Candidates:
        """Run a search statement returning (chunk_id, score) rows, best first."""
        def search(conn: psycopg.Connection) -> list[Mapping]:
            if ef_search:
                conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(ef_search)])
            return conn.execute(statement, params).fetchall()
        rows = self._run(search)
        return Candidates(np.array([row["chunk_id"] for row in rows], dtype=np.int64),
                          np.array([row["score"] for row in rows], dtype=np.float32))

    def idf(self, terms: Sequence[str]) -> np.ndarray:
        chunks, rows = self._run(lambda conn: (
            conn.execute("SELECT chunks FROM qa_stats").fetchone()["chunks"],
            conn.execute("SELECT term, df FROM qa_terms WHERE term = ANY(%s)", [list(terms)]).fetchall()))
        df_of = {row["term"]: row["df"] for row in rows}
        df = np.array([df_of.get(term, 0) for term in terms], dtype=np.float64)
        return np.log1p((chunks - df + 0.5) / (df + 0.5))

    def chunk_rows(self, chunk_ids: Sequence[int]) -> dict[int, Mapping]:
        rows = self._run(lambda conn: conn.execute(
            """SELECT c.chunk_id, c.doc_id, c.start, c."end", c.page, c.text,
                      d.title, d.publisher, d.author, d.date, d.path, d.url
               FROM qa_chunks c JOIN qa_documents d USING (doc_id) WHERE c.chunk_id = ANY(%s)""",
            [[int(i) for i in chunk_ids]]).fetchall())
        return {row["chunk_id"]: row for row in rows}

    def documents(self) -> list[DocumentRow]:
        rows = self._run(lambda conn: conn.execute(
            """SELECT d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash,
                      count(c.chunk_id) AS chunks, d.url
               FROM qa_documents d LEFT JOIN qa_chunks c USING (doc_id)
               GROUP BY d.doc_id ORDER BY lower(d.title), d.doc_id""").fetchall())
        return [DocumentRow(**row) for row in rows]

    def document(self, doc_id: str) -> Document | None:
        row = self._run(lambda conn: conn.execute("SELECT * FROM qa_documents WHERE doc_id = %s", [doc_id]).fetchone())
        return None if row is None else document_from_row(row)

    def last_report(self) -> SyncReport | None:
        row = self._run(lambda conn: conn.execute("SELECT report FROM qa_sync").fetchone())
        return SyncReport.from_dict(json.loads(row["report"])) if row else None

    def is_current(self) -> bool:
        """True while the database holds an index of the model and format this reader was opened for: a live
        database needs no reopening for new documents, but one rebuilt with another model must be refused."""
        return self._identity() == self._built_for

    def location(self) -> str:
        return public_url(self.url)

    def close(self) -> None:
        self.conn.close()


def parse_vector(text: str) -> np.ndarray:
    """A vector from pgvector's text form (`vector_literal`)."""
    return np.array(text.strip("[]").split(","), dtype=np.float32)


class PostgresWriter(Writer):
    """Syncs an index in a PostgreSQL database: one transaction per batch of documents, under an advisory lock."""

    def __init__(self, url: str, batch_documents: int) -> None:
        self.url = url
        self.batch_documents = batch_documents
        self.conn = connect(url)
        self.live_schema = ""  # set by a --rebuild: the schema whose tables it replaces when it publishes

    @contextmanager
    def lock(self, wait: bool = True) -> Iterator[None]:
        where = public_url(self.url)
        if not self.conn.execute("SELECT pg_try_advisory_lock(%s) AS ok", [LOCK_KEY]).fetchone()["ok"]:
            if not wait:
                raise BuildLockedError(f"another build of {where} is running; try again when it ends")
            logger.warning("another build of %s is running; waiting for it to finish", where)
            self.conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    def prepare(self, manifest: Manifest, rebuild: bool) -> bool:
        manifest = replace(manifest, faiss_factory=DENSE_INDEX)
        with self.conn.transaction():
            try:
                with self.conn.transaction():
                    self.conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.errors.InsufficientPrivilege:
                raise QAError(f"{public_url(self.url)} lacks the pgvector extension and this role may not create it; "
                              "have an administrator run `CREATE EXTENSION vector;` in that database") from None
            self.conn.execute(f"DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE")  # what a killed rebuild left
            existing = read_manifest(self.conn)
            if existing is not None and not rebuild:
                check_same_settings(existing, manifest, public_url(self.url))
                return True
            if existing is not None:  # built aside, so readers keep the whole old index until `publish`
                self.live_schema = self.conn.execute("SELECT current_schema() AS s").fetchone()["s"]
                self.conn.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
                self.conn.execute(f"SET search_path TO {self._rebuild_path()}")
            self.conn.execute(_schema(manifest.dimension))
            row = {name: getattr(manifest, name) for name in _MANIFEST_FIELDS}
            self.conn.execute(f"INSERT INTO qa_manifest ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                              list(row.values()))
        return False

    def _rebuild_path(self) -> str:
        """The search path of a rebuild: its own tables first, then the live schema's types (pgvector's)."""
        names = (REBUILD_SCHEMA, self.live_schema, "public")
        return ",".join(sql.Identifier(name).as_string(self.conn) for name in names)

    def store_for_workers(self, store: str) -> str:
        if not self.live_schema:
            return store
        parts = urlsplit(store)
        query = parse_qsl(parts.query, keep_blank_values=True)
        options = " ".join([*(value for name, value in query if name == "options"),
                            f"-c search_path={self._rebuild_path()}"])
        query = [(name, value) for name, value in query if name != "options"] + [("options", options)]
        return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))

    def publish(self) -> None:
        """After a --rebuild: in one transaction, drop the live tables and move the rebuilt ones in their place,
        with the privileges other roles held on the old ones (a read-only `serve` role keeps reading); readers
        wait a moment on the swap, then see the new index whole."""
        if not self.live_schema:
            return
        live, aside = sql.Identifier(self.live_schema), sql.Identifier(REBUILD_SCHEMA)
        execute = self.conn.execute
        with self.conn.transaction():
            grants = execute("""SELECT grantee, privilege_type, table_name FROM information_schema.role_table_grants
                                WHERE table_schema = %s AND table_name = ANY(%s) AND grantee <> current_user""",
                             [self.live_schema, list(_TABLES)]).fetchall()
            for table in _TABLES:
                execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(live, sql.Identifier(table)))
                execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(aside, sql.Identifier(table), live))
            execute(sql.SQL("DROP SEQUENCE IF EXISTS {}.qa_chunk_ids").format(live))
            execute(sql.SQL("ALTER SEQUENCE {}.qa_chunk_ids SET SCHEMA {}").format(aside, live))
            execute(sql.SQL("DROP SCHEMA {}").format(aside))
            for grant in grants:
                execute(sql.SQL("GRANT {} ON {}.{} TO {}").format(
                    sql.SQL(grant["privilege_type"]), live, sql.Identifier(grant["table_name"]),
                    sql.Identifier(grant["grantee"])))
        execute("RESET search_path")
        self.live_schema = ""

    def indexed(self) -> dict[str, str]:
        rows = self.conn.execute("SELECT doc_id, content_hash FROM qa_documents").fetchall()
        return {row["doc_id"]: row["content_hash"] for row in rows}

    def embedded(self, doc_ids: set[str]) -> dict[str, np.ndarray]:
        rows = self.conn.execute("SELECT title, c.text, embedding::text AS vector FROM qa_chunks c JOIN qa_documents "
                                 "USING (doc_id) WHERE doc_id = ANY(%s)", [sorted(doc_ids)]).fetchall()
        return {embedding_text(row["title"], row["text"]): parse_vector(row["vector"]) for row in rows}

    def write(self, remove: set[str], add: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> str:
        """One transaction; retried when PostgreSQL breaks a deadlock with another writer by aborting this one."""
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self.conn.transaction():
                    if remove:
                        self._delete(sorted(remove))
                    if add:
                        self._insert(add, vectors)
                    self.conn.execute("UPDATE qa_manifest SET built_at = %s", [time.strftime("%Y-%m-%dT%H:%M:%S%z")])
                break
            except psycopg.errors.DeadlockDetected:
                if attempt == WRITE_ATTEMPTS:
                    raise
                logger.info("write to %s met a deadlock with another writer; retrying", public_url(self.url))
        return public_url(self.url)

    def _delete(self, doc_ids: list[str]) -> None:
        """Delete documents with their chunks and postings, and take their terms out of the statistics."""
        execute = self.conn.execute
        execute("""UPDATE qa_terms t SET df = t.df - x.n
                   FROM (SELECT p.term, count(*) AS n FROM qa_postings p JOIN qa_chunks c USING (chunk_id)
                         WHERE c.doc_id = ANY(%s) GROUP BY p.term) x
                   WHERE t.term = x.term""", [doc_ids])
        execute("DELETE FROM qa_terms WHERE df <= 0")
        execute("""UPDATE qa_stats SET chunks = chunks - x.n, total_length = total_length - x.total
                   FROM (SELECT count(*) AS n, coalesce(sum(length), 0) AS total FROM qa_chunks
                         WHERE doc_id = ANY(%s)) x""", [doc_ids])
        execute("DELETE FROM qa_postings WHERE chunk_id IN (SELECT chunk_id FROM qa_chunks WHERE doc_id = ANY(%s))",
                [doc_ids])
        execute("DELETE FROM qa_chunks WHERE doc_id = ANY(%s)", [doc_ids])
        execute("DELETE FROM qa_documents WHERE doc_id = ANY(%s)", [doc_ids])

    def _insert(self, add: list[tuple[Document, list[Chunk]]], vectors: np.ndarray) -> None:
        """Insert documents, their chunks with vectors, their postings, and add their terms to the statistics."""
        chunks = [piece for _, pieces in add for piece in pieces]
        terms = tokenize([piece.text for piece in chunks])
        ids = sorted(row["id"] for row in self.conn.execute(
            "SELECT nextval('qa_chunk_ids') AS id FROM generate_series(1, %s)", [len(chunks)]).fetchall())
        now = time.time()
        with self.conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO qa_documents VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [(d.doc_id, d.path, d.title, d.publisher, d.author, d.date, d.content_hash, d.text,
                  pages_json(d), now, d.url) for d, _ in add],
            )
            with cursor.copy('COPY qa_chunks (chunk_id, doc_id, ordinal, start, "end", page, tokens, text, length, '
                             "embedding) FROM STDIN") as copy:
                for chunk_id, piece, words, vector in zip(ids, chunks, terms, vectors):
                    copy.write_row((chunk_id, piece.doc_id, piece.ordinal, piece.start, piece.end, piece.page,
                                    piece.tokens, piece.text, len(words), vector_literal(vector)))
            with cursor.copy("COPY qa_postings (term, chunk_id, tf, length) FROM STDIN") as copy:
                for chunk_id, words in zip(ids, terms):
                    for term, tf in Counter(words).items():
                        copy.write_row((term, chunk_id, tf, len(words)))
        df = Counter(term for words in terms for term in set(words))
        ordered = sorted(df)  # every writer locks term rows in the same order, so parallel ingest rarely deadlocks
        self.conn.execute("""INSERT INTO qa_terms (term, df) SELECT * FROM unnest(%s::text[], %s::int[]) ORDER BY 1
                             ON CONFLICT (term) DO UPDATE SET df = qa_terms.df + EXCLUDED.df""",
                          [ordered, [df[term] for term in ordered]])
        self.conn.execute("UPDATE qa_stats SET chunks = chunks + %s, total_length = total_length + %s",
                          [len(chunks), sum(len(words) for words in terms)])

    def save_report(self, report: SyncReport) -> None:
        self.conn.execute("""INSERT INTO qa_sync (id, report) VALUES (1, %s)
                             ON CONFLICT (id) DO UPDATE SET report = EXCLUDED.report""",
                          [json.dumps(report.stored())])

    def close(self) -> None:
        self.conn.close()


def check_same_settings(existing: Manifest, wanted: Manifest, where: str) -> None:
    """IndexMismatchError unless a sync with `wanted` may extend the index built with `existing`.

    Unlike an index folder, a shared database is never rebuilt behind its readers' backs: that takes --rebuild.
    """
    if existing.format_version != wanted.format_version:
        raise IndexMismatchError(
            f"index in {where} has format {existing.format_version}, this version writes {wanted.format_version}; "
            f"{REBUILD_ASKED}"
        )
    existing.check_compatible(wanted.model, wanted.dimension, where)
    if (existing.chunk_tokens, existing.overlap_tokens) != (wanted.chunk_tokens, wanted.overlap_tokens):
        raise IndexMismatchError(
            f"index in {where} was chunked at {existing.chunk_tokens}/{existing.overlap_tokens} word pieces, "
            f"not {wanted.chunk_tokens}/{wanted.overlap_tokens}; {REBUILD_ASKED}"
        )
