"""FAISS: the embedded store's dense index (an IndexIDMap2 over inner product, ids = chunk ids)."""

from __future__ import annotations

import faiss
import numpy as np

from qa.errors import IndexMismatchError
from qa.storage import Candidates


def build_faiss(vectors: np.ndarray, ids: np.ndarray, dimension: int, factory: str) -> faiss.Index:
    """An IndexIDMap2 of the given factory type (inner product), trained if it needs training."""
    inner = faiss.index_factory(dimension, factory, faiss.METRIC_INNER_PRODUCT)
    if not inner.is_trained and len(vectors):
        inner.train(vectors)
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        index.add_with_ids(vectors, ids)
    return index


def configure_faiss(index: faiss.Index, search_params: str) -> None:
    """Apply search-time parameters of an approximate index, e.g. "efSearch=128" (HNSW) or "nprobe=16" (IVF).

    Raises IndexMismatchError naming the index type when a parameter does not apply to it.
    """
    if not search_params:
        return
    try:
        faiss.ParameterSpace().set_index_parameters(index, search_params)
    except RuntimeError as error:
        kind = type(faiss.downcast_index(index.index)).__name__
        raise IndexMismatchError(f"FAISS search parameters {search_params!r} do not apply to a {kind} index "
                                 f"({str(error).strip().splitlines()[-1]})") from None


def search_faiss(index: faiss.Index, query: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Candidates:
    """The top `k` of one query (shape (1, dim)), optionally only among the `allowed` ids, on one thread.

    For one query at a time one OpenMP thread is fastest: handing a single query's scan to a second thread
    costs more than it saves, the more so when other work holds the second core (exact search over 100k
    vectors: 7-9 ms on one thread, 37-48 ms on two, measured on this project's 2-core machine). The setting
    is per calling thread in OpenMP, so it is made and restored around each search, in whichever thread
    searches. faiss-cpu 1.15's `distance_compute_blas_threshold` (128000) already keeps a single query off
    the BLAS path, which measured 2x slower here.
    """
    params = _search_parameters(index, faiss.IDSelectorBatch(allowed)) if allowed is not None else None
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        scores, ids = index.search(query, min(k, max(index.ntotal, 1)), params=params)
    finally:
        faiss.omp_set_num_threads(threads)
    found = ids[0] >= 0
    return Candidates(ids[0][found].astype(np.int64), scores[0][found])


def _search_parameters(index: faiss.Index, selector: faiss.IDSelector) -> faiss.SearchParameters:
    """Search parameters carrying `selector`, of the kind the inner index expects, keeping its efSearch/nprobe."""
    inner = faiss.downcast_index(index.index)
    while isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    if isinstance(inner, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=inner.hnsw.efSearch)
    if isinstance(inner, faiss.IndexIVF):
        return faiss.SearchParametersIVF(sel=selector, nprobe=inner.nprobe)
    return faiss.SearchParameters(sel=selector)
