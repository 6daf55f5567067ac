"""The command line: `python -m qa build | check | ask | add | remove | info | eval | serve`. Each verb is a thin call of the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from qa.config import Settings, whole_number
from qa.corpus import REMOVED_DIR, add_paths, remove_file, unread_documents
from qa.embedding import Embedder
from qa.errors import IndexMismatchError, QAError
from qa.evaluation import benchmark, cached_index_dir, held_out_articles, write_results
from qa.export import citation, relevance
from qa.indexer import SyncReport, sync, withdraw_unindexed
from qa.retrieval import MAX_K, MODES, Filters, Retriever, check_date, check_k, valid_text
from qa.store import check_index

logger = logging.getLogger("qa")


def _common() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--corpus", help="corpus folder (default: corpus, or $QA_CORPUS_DIR)")
    parent.add_argument("--index", help="index folder (default: index, or $QA_INDEX_DIR)")
    parent.add_argument("--store", help="keep the index in PostgreSQL instead: postgresql://USER@HOST/DB "
                                        "(default: $QA_STORE; unset means the index folder)")
    parent.add_argument("--model", help="embedding model path or name (default: the bundled all-MiniLM-L6-v2)")
    parent.add_argument("-v", "--verbose", action="store_true", help="show progress details")
    return parent


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(prog="python -m qa", description="Ask questions of a folder of articles.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    build = verbs.add_parser("build", parents=[common], help="bring the index up to date with the corpus",
                             description="Sync the index with the corpus: embed new and changed files, drop "
                                         "removed ones. Example: python -m qa build")
    build.add_argument("--rebuild", action="store_true", help="re-embed everything from scratch")
    build.add_argument("--prune", action="store_true",
                       help="let the build remove more than half of the documents (all of them, too), whose files "
                            "are gone; without it, such a build is refused")
    build.add_argument("--workers", type=argument(whole_number, "--workers"), default=1,
                       help="embed in this many processes, each writing its share (database stores only; default 1)")

    ask = verbs.add_parser("ask", parents=[common], help="ask a question",
                           description='Example: python -m qa ask "who was suspected of the Kadhimi attack"')
    ask.add_argument("question", type=argument(valid_text, "the question"))
    ask.add_argument("-k", type=argument(check_k), default=5, help=f"passages to show, 1 to {MAX_K} (default 5)")
    ask.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    ask.add_argument("--source", action="append", default=[], type=argument(valid_text, "the source"),
                     help="only this publisher or document (repeatable)")
    ask.add_argument("--since", default="", type=argument(check_date, "the start date"),
                     help="only documents dated on or after YYYY-MM-DD")
    ask.add_argument("--until", default="", type=argument(check_date, "the end date"),
                     help="only documents dated on or before YYYY-MM-DD")
    ask.add_argument("--json", action="store_true", help="print JSON")

    add = verbs.add_parser("add", parents=[common], help="copy files or folders into the corpus and sync",
                           description="Example: python -m qa add ~/Downloads/article.pdf")
    add.add_argument("paths", nargs="+")

    remove = verbs.add_parser("remove", parents=[common], help="remove a document from the corpus and index",
                              description="The file is moved to corpus/.removed/. Example: python -m qa remove a.txt")
    remove.add_argument("doc_id", help="document id as shown by `info` (its path in the corpus)")

    verbs.add_parser("check", parents=[common], help="verify the index: every file's checksum and count",
                     description="Read every generation of the index folder in full (checksums, counts, SQLite's "
                                 "own check) and say which are intact; exit status 1 if the current one is not.")

    info = verbs.add_parser("info", parents=[common], help="show the index: model, documents, chunks, built when")
    info.add_argument("--json", action="store_true", help="print JSON")

    evaluate = verbs.add_parser(
        "eval", parents=[common], help="measure retrieval and answers on a BEIR-format benchmark set",
        description="Index the set with this pipeline (cached; --index overrides the cache folder), run every mode "
                    "and write eval-<set>.json and .md. Example: python -m qa eval data/squad-public --held-out")
    evaluate.add_argument("data_dir", help="folder with corpus.jsonl, queries.jsonl and qrels/<split>.tsv")
    evaluate.add_argument("--split", default="test", help="qrels split to score (default test; tune on train)")
    evaluate.add_argument("--out", default="benchmarks/results", help="where to write the results")
    evaluate.add_argument("--cache",
                          help="folder of cached benchmark indexes, one per set and chunk setting (default: qa-eval-cache in the temporary folder)")
    evaluate.add_argument("--no-calibrate", action="store_true", help="skip the no-answer threshold calibration")
    evaluate.add_argument("--every", type=argument(whole_number, "--every"), default=1,
                          help="score every n-th query only (default 1: all)")
    evaluate.add_argument("--held-out", action="store_true",
                          help="only the questions of the articles the answer model was not trained on "
                               "(held_out_articles in qa/models/answer-scorer.json); writes eval-<set>-heldout.*")

    serve = verbs.add_parser("serve", parents=[common], help="serve the HTTP API (/search, /ask, /documents, /health)",
                             description="JSON in the shape of `ask --json`; endpoints described at /docs. "
                                         "Example: python -m qa serve --store postgresql://localhost/news --port 8000")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=argument(port_number), default=8000, help="port (default 8000)")
    serve.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages of this origin call the API from a browser (repeatable), e.g. "
                            "https://cms.example.org; requests need the token of QA_API_TOKEN when it is set")
    return parser


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def say(text: object = "", file: TextIO | None = None) -> None:
    """Print, without the control characters a document may hold (an escape sequence in an article's text or
    title would otherwise clear or retitle the reader's terminal); newlines and tabs stay."""
    print(_CONTROLS.sub("", str(text)), file=file)


def port_number(text: str) -> int:
    """A TCP port, 1 to 65535; QAError otherwise."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise QAError(f"the port must be a whole number from 1 to 65535, not {text!r}")
    return int(text)


def argument(check: Callable[..., object], *names: str) -> Callable[[str], object]:
    """An argparse type from one of the library's checks, so a bad value is a usage error (exit status 2)."""
    def parse(text: str) -> object:
        try:
            return check(int(text) if check is check_k else text, *names)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        except QAError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    """Run one verb; any failure becomes a one-line message on stderr and exit code 1 (usage errors: 2)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")

    def run() -> int:
        settings = Settings.from_env(corpus_dir=args.corpus, index_dir=args.index, store=args.store,
                                     model=args.model)
        return VERBS[args.verb](args, settings)

    return reporting_failures(run, getattr(args, "json", False), " (run again with -v for details)")


def reporting_failures(run: Callable[[], int | None], as_json: bool = False, hint: str = "") -> int:
    """`run`'s exit status; any failure becomes a one-line message on stderr and exit status 1. The traceback is
    logged at INFO level when `hint` says how to see it (the verbs' -v), else at DEBUG (scripts log progress at
    INFO). The verbs and the scripts in scripts/ share it."""
    try:
        return run() or 0
    except BrokenPipeError:  # the reader stopped reading (`| head`): what they wanted was printed
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except QAError as error:
        fail(str(error), as_json)
    except KeyboardInterrupt:
        say("stopped", file=sys.stderr)
    except Exception as error:  # noqa: BLE001 - a user gets one line, never a traceback
        logger.log(logging.INFO if hint else logging.DEBUG, "unexpected failure", exc_info=True)
        fail(f"{type(error).__name__}: {error}{hint}", as_json)
    return 1


def fail(message: str, as_json: bool) -> None:
    """Say why the command failed: one line on stderr, and with --json also `{"error": ...}` on stdout, so a
    script reading the JSON gets something to parse."""
    say(f"error: {message}", file=sys.stderr)
    if as_json:
        say(json.dumps({"error": message}, ensure_ascii=False))


def run_build(args: argparse.Namespace, settings: Settings) -> int:
    report = _sync(settings, Embedder.from_settings(settings), rebuild=args.rebuild, workers=args.workers,
                   prune=args.prune)
    return 1 if report.failures and not (report.changed or report.unchanged) else 0


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    retriever = Retriever.open(settings=settings)
    filters = Filters(sources=tuple(args.source), since=args.since, until=args.until)
    answer = retriever.ask(args.question, k=args.k, mode=args.mode, filters=filters)
    if args.json:
        say(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
        return 0
    if not answer.hits:
        publishers = sorted({doc.publisher for doc in retriever.documents() if doc.publisher})
        say(f"No passages match these filters; the sources are {', '.join(publishers) or 'unnamed'}, or a "
              "document's file name." if filters else "No passages found.")
        return 0
    if answer.confident:
        after = f"\n  (after: {answer.context})" if answer.context else ""
        short = f"\n  In short: {answer.phrase_text}" if answer.phrase_text else ""
        say(f"Answer: {answer.text}{short}{after}\n  — {citation(answer.best)} ({relevance(answer.best).label})\n")
    else:
        say("The archive does not seem to answer this: no sentence of the closest passages seems to state it. "
            "They are below.\n")
    # each passage with the page's label for its best sentence: the fused search score is not what the rerank
    # orders the passages by, so printed beside them it looked out of order
    for hit in answer.hits:
        say(f"{hit.rank}. {citation(hit)} ({relevance(hit).label})")
        for copy in hit.copies:
            say(f"   the same text also in {citation(copy)}")
        say(textwrap.indent(hit.text, "   ", lambda line: True) + "\n")
    return 0


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    """Copy, index, and move back out what could not be indexed; exit status 1 when nothing was added."""
    added = [path.relative_to(settings.corpus_dir).as_posix() for path in add_paths(args.paths, settings.corpus_dir)]
    for doc_id in added:
        say(f"copied {doc_id}")
    for folder in (Path(path) for path in args.paths if Path(path).is_dir()):
        for name, why in unread_documents(folder):
            say(f"not added: {folder / name} ({why})", file=sys.stderr)
    embedder = Embedder.from_settings(settings)
    withdrawn = withdraw_unindexed(added, _sync(settings, embedder), settings, embedder)
    for doc_id, why in withdrawn:
        say(f"not added: {doc_id} ({why}); moved to {REMOVED_DIR}/", file=sys.stderr)
    return 1 if len(withdrawn) == len(added) else 0


def run_remove(args: argparse.Namespace, settings: Settings) -> int:
    say(f"moved {args.doc_id} to {remove_file(args.doc_id, settings.corpus_dir)}")
    _sync(settings, Embedder.from_settings(settings))
    return 0


def run_info(args: argparse.Namespace, settings: Settings) -> int:
    retriever = Retriever.open(settings=settings)
    manifest = retriever.store.manifest
    documents = retriever.documents()
    report = retriever.store.last_report() or SyncReport()
    if args.json:
        say(json.dumps({"index": retriever.store.location(), "manifest": vars(manifest),
                          "documents": [{**vars(doc), "status": "indexed"} for doc in documents],
                          "failed": [{"doc_id": d, "status": f"failed: {why}"} for d, why in report.failed],
                          "duplicates": [{"doc_id": d, "status": f"duplicate of {original}"}
                                         for d, original in report.duplicates]},
                         indent=2, ensure_ascii=False))
        return 0
    say(f"index:     {retriever.store.location()}")
    if retriever.store.fallback:
        say(f"warning:   serving an earlier generation because {retriever.store.fallback}; "
              "run `python -m qa build` to repair")
    say(f"model:     {manifest.model} ({manifest.dimension} dims), dense index {manifest.faiss_factory}")
    say(f"chunks:    {manifest.chunks} of at most {manifest.chunk_tokens} word pieces")
    say(f"built:     {manifest.built_at}")
    say(f"documents: {manifest.documents}")
    for doc in documents:
        say(f"  {doc.doc_id}: {doc.title} — {doc.publisher or 'unknown publisher'}, {doc.date or 'no date'}, "
              f"{doc.chunks} chunks")
    indexed = {doc.doc_id for doc in documents}
    for doc_id, reason in report.not_read:
        say(f"  {doc_id}: {reason}")
    for doc_id, reason in report.failures:
        fate = "its new version could not be read; the previous one is still searched" if doc_id in indexed else \
            "not indexed"
        say(f"  {doc_id}: {fate}: {reason}")
    for doc_id, original in report.duplicates:
        say(f"  {doc_id}: not indexed: same content as {original}")
    return 0


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    if settings.store:
        raise QAError("check reads an index folder's files; a Postgres store is checked by PostgreSQL itself")
    report = check_index(settings.index_dir)
    if not report:
        raise QAError(f"no index in {settings.index_dir}; build it with `python -m qa build`")
    try:
        serving = Retriever.open(settings=settings).store
    except IndexMismatchError as error:  # intact, but of another model: that is what to say, not "damaged"
        for name, problem in report:
            say(f"{name}: {problem or 'verified'}")
        raise error
    except QAError:  # no generation is intact: each one's problem is what the reader needs to see
        serving = None
    served = Path(serving.location()).name if serving else ""
    for name, problem in report:
        say(f"{name}: {problem or 'verified'}{' (serving)' if name == served else ''}")
    if serving is None:
        raise QAError("no generation is intact; run `python -m qa build` to rebuild the index from the corpus")
    if serving.fallback:
        say(f"the current generation is damaged; readers are served the intact {Path(serving.location()).name}. "
              "Run `python -m qa build` to repair the index from the corpus")
        return 1
    return 0


def _sync(settings: Settings, embedder: Embedder, rebuild: bool = False, workers: int = 1,
          prune: bool = False) -> SyncReport:
    """Sync with a tqdm bar on stderr (chunks embedded; files done with several workers), then print what
    changed, file by file."""
    from tqdm import tqdm

    unit = "file" if workers > 1 else "chunk"
    with tqdm(total=0, unit=unit, desc="Embedding", disable=None, leave=False) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = sync(settings, embedder, rebuild=rebuild, progress=progress, workers=workers, prune=prune)
    changed = [name for name in report.updated if name not in set(report.reread)]
    for label, names in (("added", report.added), ("updated", changed), ("removed", report.removed)):
        for name in names:
            say(f"{label}: {name}")
    if report.reread:
        say(f"read again: {len(report.reread):,} unchanged files, once, by this version's readers "
            f"({report.chunks_embedded:,} passages embedded again, the others kept their vectors)")
    for name, reason in report.not_read:
        say(f"{name}: {reason}")
    for name, reason in report.failures:
        say(f"failed: {name}: {reason}", file=sys.stderr)
    for name, original in report.duplicates:
        say(f"duplicate: {name} has the same content as {original}; indexed once")
    say(report.summary())
    return report


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    index_dir = Path(args.index) if args.index else cached_index_dir(args.data_dir, settings, args.cache)
    report = benchmark(args.data_dir, replace(settings, index_dir=index_dir),
                       Embedder.from_settings(settings), split=args.split,
                       calibrate=not args.no_calibrate, every=args.every,
                       held_out=held_out_articles() if args.held_out else ())
    for name, value in {**report.get("answers", {}), **report.get("decisions", {})}.items():
        say(f"{name}: {value:.3f}")
    for row in report["modes"]:
        say(f"{row['mode']}: nDCG@10 {row['metrics']['nDCG@10']:.3f}, p50 {row['p50_ms']:.0f} ms, "
              f"p95 {row['p95_ms']:.0f} ms")
    for path in write_results(report, args.out):
        say(f"wrote {path}")
    return 0


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from qa.api import serve

    serve(settings, host=args.host, port=args.port, token=os.environ.get("QA_API_TOKEN", ""),
          cors_origins=args.cors_origin)
    return 0


VERBS = {"build": run_build, "check": run_check, "ask": run_ask, "add": run_add, "remove": run_remove,
         "info": run_info, "eval": run_eval, "serve": run_serve}
