"""The embedding backends on the real bundled model: torch and int8 onnx agree, never mix in one index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qa import Embedder, Retriever, Settings, sync
from qa.embedding import resolve_model
from qa.errors import IndexMismatchError, QAError
from qa.onnx_backend import ONNX_TAG, run_each, side_by_side
from qa.storage import Manifest
from tests.conftest import REPO, SEED_QUESTION

PASSAGES = [
    SEED_QUESTION,
    "Saker falcons nest on the limestone cliffs above Duhok every spring.",
    "Local rangers counted forty breeding pairs this year, up from thirty-one.",
    (REPO / "corpus" / "middleeasteye-2021-11-28-betrayed-by-iran.txt").read_text()[:1500],
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path) -> Embedder:
    return Embedder(backend="onnx", cache_dir=cache_dir)


def test_onnx_vectors_are_close_to_torch_vectors(torch_embedder: Embedder, onnx_embedder: Embedder) -> None:
    expected, got = torch_embedder.encode(PASSAGES), onnx_embedder.encode(PASSAGES)
    assert got.shape == expected.shape == (len(PASSAGES), 384) and got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * expected).sum(axis=1)
    assert cosines.min() > 0.98, cosines
    # the same ranking: the falcon question is closest to the falcon sentences under both backends
    query = "where do falcons breed"
    for embedder in (torch_embedder, onnx_embedder):
        scores = embedder.encode(PASSAGES) @ embedder.encode_query(query)[0]
        assert int(np.argmax(scores)) == 1, scores


def test_a_text_gets_the_same_onnx_vector_alone_or_among_others(onnx_embedder: Embedder) -> None:
    together = onnx_embedder.encode(PASSAGES)
    for text, vector in zip(PASSAGES, together):
        np.testing.assert_allclose(onnx_embedder.encode_query(text)[0], vector, atol=1e-6)


def test_token_vectors_agree_across_backends_and_point_back_into_the_text(torch_embedder: Embedder,
                                                                          onnx_embedder: Embedder) -> None:
    texts = [SEED_QUESTION, PASSAGES[-1], ""]
    for ours, theirs in zip(torch_embedder.encode_tokens(texts), onnx_embedder.encode_tokens(texts)):
        np.testing.assert_array_equal(ours.spans, theirs.spans)
        assert ours.vectors.shape == theirs.vectors.shape == (len(ours.spans), 384)
        cosines = (ours.vectors * theirs.vectors).sum(1) / (
            np.linalg.norm(ours.vectors, axis=1) * np.linalg.norm(theirs.vectors, axis=1))
        assert len(cosines) == 0 or cosines.min() > 0.95, cosines
    question, passage, empty = onnx_embedder.encode_tokens(texts)
    # no [CLS]/[SEP]: the pieces spell the question's words, in order
    pieces = [piece.removeprefix("##") for piece in onnx_embedder.tokenizer.tokenize(SEED_QUESTION)]
    assert [SEED_QUESTION[s:e].lower() for s, e in question.spans] == pieces
    assert len(passage.spans) == onnx_embedder.max_tokens  # cut at the model's window
    assert empty.vectors.shape == (0, 384)
    # pooled over the whole text, the pieces give the sentence vector itself
    pooled = torch_embedder.encode_tokens([SEED_QUESTION])[0].vectors
    special = torch_embedder.encode([SEED_QUESTION])[0]
    assert float(special @ (pooled.mean(0) / np.linalg.norm(pooled.mean(0)))) > 0.95


def test_both_backends_count_and_split_tokens_like_the_models_tokenizer(torch_embedder: Embedder,
                                                                         onnx_embedder: Embedder) -> None:
    expected = [len(ids) for ids in torch_embedder.tokenizer(PASSAGES, add_special_tokens=False)["input_ids"]]
    assert torch_embedder.count_tokens(PASSAGES) == onnx_embedder.count_tokens(PASSAGES) == expected
    assert onnx_embedder.max_tokens == torch_embedder.max_tokens == 254
    long_text = PASSAGES[-1]
    spans = onnx_embedder.split_long(long_text, 50)
    assert spans == torch_embedder.split_long(long_text, 50)
    assert max(onnx_embedder.count_tokens([long_text[s:e] for s, e in spans])) <= 50


def test_the_backend_is_part_of_the_model_id(torch_embedder: Embedder, onnx_embedder: Embedder) -> None:
    assert onnx_embedder.model_id == torch_embedder.model_id + ONNX_TAG
    assert onnx_embedder.dimension == torch_embedder.dimension == 384


def test_an_onnx_index_is_refused_by_a_torch_retriever_and_rebuilt_by_a_torch_rebuild(
    fresh_settings: Settings, torch_embedder: Embedder, onnx_embedder: Embedder
) -> None:
    settings = Settings(corpus_dir=fresh_settings.corpus_dir, index_dir=fresh_settings.index_dir, backend="onnx")
    sync(settings, onnx_embedder)
    hits = Retriever.open(settings.index_dir, onnx_embedder, settings).search(SEED_QUESTION, k=5)
    assert any("Kataeb Sayyid al-Shuhada is the key suspect" in hit.text for hit in hits)
    with pytest.raises(IndexMismatchError, match=r"\+onnx-int8"):
        Retriever.open(settings.index_dir, torch_embedder, settings)
    with pytest.raises(IndexMismatchError, match="--rebuild"):
        sync(settings, torch_embedder)
    report = sync(settings, torch_embedder, rebuild=True)
    assert report.rebuilt and Retriever.open(settings.index_dir, torch_embedder, settings).search(SEED_QUESTION)


def test_a_model_folder_is_known_by_its_weights_not_its_name(tmp_path: Path) -> None:
    """An index built with one model was searched, and extended, with another in a folder of the same name; the
    same model copied to a folder of another name was refused."""
    bundled, _ = resolve_model("")
    for name in ("a/model", "b/model", "renamed"):
        shutil.copytree(bundled, tmp_path / name)
    weights = tmp_path / "b/model/model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1000:] = bytes(1000)  # other weights, same size
    weights.write_bytes(bytes(data))
    a, b, renamed = (resolve_model(str(tmp_path / name))[1] for name in ("a/model", "b/model", "renamed"))
    built = Manifest(model=a, dimension=384, chunk_tokens=200, overlap_tokens=40, faiss_factory="Flat")

    assert a.startswith("model@") and renamed.startswith("renamed@")
    with pytest.raises(IndexMismatchError, match="was built with model"):
        built.check_compatible(b, 384, "index")
    built.check_compatible(renamed, 384, "index")
    built.check_compatible(a, 384, "index")
    # an index the previous release built with this path recorded the folder's name alone, and is read as before
    replace(built, model="model" + ONNX_TAG).check_compatible(a + ONNX_TAG, 384, "index")
    replace(built, model="model").check_compatible(a, 384, "index")
    with pytest.raises(IndexMismatchError, match="`python -m qa build --rebuild`"):
        replace(built, model="other" + ONNX_TAG).check_compatible(a + ONNX_TAG, 384, "index")


def test_the_onnx_export_is_made_once_and_reused(cache_dir: Path, onnx_embedder: Embedder) -> None:
    exported = list(cache_dir.rglob("*.onnx"))
    assert len(exported) == 1 and "int8" in exported[0].name
    stamp = exported[0].stat().st_mtime_ns
    again = Embedder(backend="onnx", cache_dir=cache_dir)
    assert list(cache_dir.rglob("*.onnx")) == exported and exported[0].stat().st_mtime_ns == stamp
    np.testing.assert_allclose(again.encode_query(SEED_QUESTION), onnx_embedder.encode_query(SEED_QUESTION))


def test_an_onnx_query_process_never_imports_torch(cache_dir: Path, onnx_embedder: Embedder) -> None:
    code = ("import sys; from qa import Embedder; "
            f"e = Embedder(backend='onnx', cache_dir={str(cache_dir)!r}); e.encode_query('a question'); "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    assert result.stdout.split() == ["False", "False"], result.stderr


def test_an_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(QAError, match="torch, onnx"):
        Embedder(backend="tensorflow")


def test_a_model_path_that_does_not_exist_is_named_and_nothing_is_downloaded(tmp_path: Path) -> None:
    with pytest.raises(QAError, match="no model folder at .*missing-model.*bundled all-MiniLM-L6-v2"):
        Embedder(str(tmp_path / "missing-model"), backend="onnx")


def test_the_backend_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_BACKEND", "onnx")
    assert Settings.from_env().backend == "onnx"
    assert Settings.from_env(backend="torch").backend == "torch"


def test_runs_side_by_side_come_back_in_order(onnx_embedder: Embedder) -> None:
    # later texts are shorter, so their runs end first: the vectors must still come back in the texts' order
    texts = [" ".join(["word"] * (200 - 10 * i)) + f" number {i}" for i in range(12)]
    encodings = onnx_embedder._window.encode_batch(texts)
    side = run_each(onnx_embedder.model.run, encodings)
    for encoding, (sentence, tokens) in zip(encodings, side):
        alone_sentence, alone_tokens = onnx_embedder.model.run(encoding)
        assert np.array_equal(sentence, alone_sentence) and np.array_equal(tokens, alone_tokens)


def test_qa_threads_sets_how_many_runs_go_side_by_side(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_THREADS", "3")
    assert side_by_side() == 3
    monkeypatch.delenv("QA_THREADS")
    assert side_by_side() >= 1
