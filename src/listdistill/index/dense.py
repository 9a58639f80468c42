"""Dense retrieval with faiss over student embeddings: exact inner product by default, approximate at scale.

The index type is a spec string (the ``mine.faiss_index`` and ``evaluate.faiss_index`` params):

* ``Flat``: exact search (also ``flat`` or ``exact``); memory N x d x 4 bytes.
* ``HNSW``: a graph, ``HNSW{hnsw_m}`` (default 32 neighbours per node), built with ``ef_construction`` and
  searched with ``ef_search``; no training, memory above Flat (the vectors plus the links).
* ``IVF,PQ``: ``IVF{nlist},PQ{pq_m}``: an inverted file of ``nlist`` k-means cells (default about 4 sqrt(N))
  over product-quantised residuals (default ``pq_m`` = d / 4 one-byte codes per vector, 16x smaller than Flat),
  searched in the ``nprobe`` nearest cells. ``IVF,Flat`` keeps exact vectors in the cells.
* any other faiss ``index_factory`` string (``HNSW64``, ``IVF1024,PQ48``, ``IVF4096,SQ8``, ``OPQ48,IVF1024,PQ48``),
  passed through; a bare ``IVF``, ``PQ`` or ``HNSW`` token in it gets the sizes above.

Building reads the embeddings in bounded memory: an ``.npy`` path is memory-mapped (as is an array from
``np.load(path, mmap_mode="r")``), the quantisers train on a seeded sample of at most ``max_train`` rows, and
vectors are added ``add_chunk`` rows at a time, so the only full-size structure is the index itself. Training
is seeded (faiss k-means ``seed``), so IVF and PQ indexes are reproducible; an HNSW graph built on several
OpenMP threads depends on their timing (set ``OMP_NUM_THREADS=1`` for bit-identical graphs). Search goes
``chunk`` queries at a time.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from tqdm.auto import tqdm

from listdistill.io import Run

ACCEPTED = (
    "'Flat' (exact), 'HNSW', 'IVF,PQ', 'IVF,Flat', or a faiss index_factory string such as 'HNSW32', "
    "'IVF1024,PQ48' or 'IVF4096,SQ8'"
)
_ALIASES = {"flat": "Flat", "exact": "Flat", "hnsw": "HNSW", "ivf,pq": "IVF,PQ", "ivf,flat": "IVF,Flat"}


@dataclass(frozen=True)
class IndexConfig:
    """How a faiss inner-product index is built and searched.

    Args:
        spec: index type, see the module docstring.
        hnsw_m: neighbours per HNSW node (a bare ``HNSW``).
        ef_construction: HNSW candidate-list size while building (faiss default 40; larger: better graph, slower).
        ef_search: HNSW candidate-list size while searching (at least k is used).
        nlist: IVF cells for a bare ``IVF``; 0: ``round(4 sqrt(N))``, at most N / 39 (faiss's minimum of 39
            training points per cell) and 65,536.
        nprobe: IVF cells visited per query.
        pq_m: sub-quantisers (bytes per vector) for a bare ``PQ``; 0: the largest divisor of d leaving at least
            4 dimensions per sub-vector (d / 4 for d = 384: 96 bytes).
        pq_train: training points of each PQ sub-quantiser's k-means (faiss default 65,536): 256 centroids in a
            few dimensions need far fewer, and the cost grows with pq_m x points (pq_m 96 on 11,429 points: about
            45 s on one busy core).
        max_train: cap on the seeded training sample of ``min(N, max_train, max(256 nlist, 65,536))`` rows (faiss
            k-means uses at most 256 points per centroid, so a larger sample would only cost memory).
        add_chunk: rows added to the index at a time.
        seed: seed of the training sample and of faiss k-means.
    """

    spec: str = "Flat"
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    nlist: int = 0
    nprobe: int = 32
    pq_m: int = 0
    pq_train: int = 16_384
    max_train: int = 500_000
    add_chunk: int = 65_536
    seed: int = 0


def parse_index_config(text: str) -> IndexConfig:
    """A spec string with optional ``key=value`` settings of :class:`IndexConfig` after it, separated by spaces, as
    the ``*.faiss_index`` params take them: ``"IVF,PQ nprobe=64"``, ``"HNSW ef_search=256 hnsw_m=64"``."""
    spec, *settings = text.split() or [""]
    fields = {f for f in IndexConfig.__dataclass_fields__ if f != "spec"}
    values: dict[str, int] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or key not in fields or not value.lstrip("-").isdigit():
            raise ValueError(
                f"faiss index {text!r}: {item!r} is not <setting>=<integer> with a setting among {sorted(fields)}"
            )
        values[key] = int(value)
    return IndexConfig(spec=spec, **values)


def auto_nlist(n: int) -> int:
    """IVF cells for ``n`` vectors: about 4 sqrt(n), with at least 39 training points per cell."""
    return int(max(1, min(round(4 * math.sqrt(n)), n // 39, 65_536)))


def auto_pq_m(d: int) -> int:
    """The largest divisor of ``d`` leaving at least 4 dimensions per PQ sub-vector (1 when d < 4)."""
    return max([m for m in range(1, d + 1) if d % m == 0 and d // m >= 4], default=1)


def resolve_spec(cfg: IndexConfig, n: int, d: int) -> str:
    """The faiss factory string for ``cfg.spec`` over ``n`` vectors of dimension ``d``."""
    spec = cfg.spec.strip()
    spec = _ALIASES.get(spec.lower().replace(" ", ""), spec)
    if not spec:
        raise ValueError(f"empty faiss index spec; use {ACCEPTED}")
    tokens = []
    for tok in (t.strip() for t in spec.split(",")):
        if tok == "IVF":
            nlist = cfg.nlist or auto_nlist(n)
            if nlist > n:
                raise ValueError(f"faiss index spec {cfg.spec!r}: {nlist} IVF cells but only {n} vectors")
            tok = f"IVF{nlist}"
        elif tok == "PQ":
            tok = f"PQ{cfg.pq_m or auto_pq_m(d)}"
        elif tok == "HNSW":
            tok = f"HNSW{cfg.hnsw_m}"
        tokens.append(tok)
    return ",".join(tokens)


SPEC_DIMS = (384, 768, 1024, 1536, 4096)  # usual embedding sizes a spec is tried with before the data's own is known


def _factory(cfg: IndexConfig, n: int, d: int) -> tuple[str, faiss.Index]:
    """The factory string and the (untrained, empty) index of ``cfg`` for ``n`` vectors of dimension ``d``."""
    factory = resolve_spec(cfg, n, d)
    try:
        return factory, faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as e:
        reason = _faiss_reason(e)
        shown = repr(cfg.spec) if factory == cfg.spec.strip() else f"{cfg.spec!r} (resolved to {factory!r})"
        raise ValueError(f"invalid faiss index spec {shown}: {reason}; use {ACCEPTED}") from None


def check_spec(text: str) -> None:
    """Raise ValueError (naming the spec and the accepted forms) when ``text`` is not a valid spec: its settings
    are checked (:func:`parse_index_config`) and its factory string built for a large corpus at the usual
    embedding sizes (:data:`SPEC_DIMS`); a spec that fits one of them is accepted here, and :func:`check_fits`
    checks it against the data's own size before any work."""
    cfg = parse_index_config(text)
    error: ValueError | None = None
    for d in SPEC_DIMS:
        try:
            _factory(cfg, 1_000_000, d)
            return
        except ValueError as e:
            error = error or e
    assert error is not None
    raise error


def check_fits(text: str, n: int, d: int) -> None:
    """Raise ValueError when the spec ``text`` cannot index ``n`` vectors of dimension ``d`` (PQ sub-quantisers that
    do not divide d, more IVF cells or PQ centroids than vectors to train them on): checked before a stage starts
    its work."""
    factory, index = _factory(parse_index_config(text), n, d)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and ivf.nlist > n:
        raise ValueError(f"faiss index {factory!r}: {ivf.nlist} IVF cells but only {n} vectors to train them on")
    inner = faiss.downcast_index(index)
    pq = getattr(inner, "pq", None)
    if pq is not None and pq.ksub > n:
        raise ValueError(f"faiss index {factory!r}: {pq.ksub} centroids per PQ code but only {n} vectors to train")


def _as_matrix(embeddings: np.ndarray | str | Path) -> np.ndarray:
    """A 2-D array, memory-mapped when given a ``.npy`` path (rows are then read only when needed)."""
    emb = np.load(embeddings, mmap_mode="r") if isinstance(embeddings, str | Path) else embeddings
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise ValueError(f"expected (N, d) embeddings with N >= 1, got shape {emb.shape}")
    return emb


def _rows(emb: np.ndarray, idx: slice | np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(emb[idx], dtype=np.float32)


def train_sample(emb: np.ndarray, nlist: int, cfg: IndexConfig) -> np.ndarray:
    """A seeded sample of rows (in corpus order) for training quantisers; every row when N is small enough."""
    n = emb.shape[0]
    size = min(n, cfg.max_train, max(256 * nlist, 65_536))
    if size == n:
        return _rows(emb, slice(None))
    idx = np.sort(np.random.default_rng(cfg.seed).choice(n, size=size, replace=False))
    return _rows(emb, idx)  # (size, d)


def _faiss_reason(e: RuntimeError) -> str:
    """The message of a faiss C++ error without its source location and failed assertion."""
    msg = re.split(r"\.(?:cpp|h):\d+: ", str(e).strip().splitlines()[-1])[-1]
    return msg.split(" failed: ", 1)[-1].removeprefix("Error: ")


def configure_search(index: faiss.Index, nprobe: int | None = None, ef_search: int | None = None) -> None:
    """Set the search-time knobs the index has: ``nprobe`` (IVF, capped at nlist) and ``efSearch`` (HNSW)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and nprobe is not None:
        ivf.nprobe = max(1, min(nprobe, ivf.nlist))
    inner = faiss.downcast_index(index)
    if hasattr(inner, "hnsw") and ef_search is not None:
        inner.hnsw.efSearch = ef_search


def build_index(embeddings: np.ndarray | str | Path, index_type: str | IndexConfig = "Flat") -> faiss.Index:
    """An inner-product faiss index over (N, d) float32 embeddings (an array or an ``.npy`` path).

    Args:
        embeddings: the corpus vectors; a path is memory-mapped and read in chunks.
        index_type: a spec string (``Flat``, ``HNSW``, ``IVF,PQ`` or a faiss factory string, optionally followed
            by settings: ``"IVF,PQ nprobe=64"``, see :func:`parse_index_config`) or an :class:`IndexConfig`.

    Raises:
        ValueError: the spec is unknown or does not fit the data (naming the spec and the accepted forms).
    """
    cfg = index_type if isinstance(index_type, IndexConfig) else parse_index_config(index_type)
    emb = _as_matrix(embeddings)
    n, d = emb.shape
    factory, index = _factory(cfg, n, d)
    inner = faiss.downcast_index(index)
    if hasattr(inner, "hnsw"):
        inner.hnsw.efConstruction = cfg.ef_construction
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ivf.cp.seed = cfg.seed
    if hasattr(inner, "pq"):
        inner.pq.cp.seed = cfg.seed
        inner.pq.cp.max_points_per_centroid = max(1, cfg.pq_train // inner.pq.ksub)
    if hasattr(inner, "do_polysemous_training"):
        inner.do_polysemous_training = False  # only serves polysemous (Hamming) search, unused; 15x the PQ training
    if not index.is_trained:
        sample = train_sample(emb, ivf.nlist if ivf is not None else 0, cfg)  # (n_train, d)
        try:
            index.train(sample)
        except RuntimeError as e:
            reason = _faiss_reason(e)
            raise ValueError(f"cannot train faiss index {factory!r} on {len(sample)} vectors: {reason}") from None
        del sample
    for s in tqdm(range(0, n, cfg.add_chunk), desc=f"faiss add ({factory})", disable=n <= cfg.add_chunk):
        index.add(_rows(emb, slice(s, s + cfg.add_chunk)))  # (add_chunk, d)
    configure_search(index, cfg.nprobe, cfg.ef_search)
    return index


def search(
    index: faiss.Index,
    query_emb: np.ndarray,
    query_ids: Sequence[str],
    doc_ids: Sequence[str],
    k: int,
    chunk: int = 1024,
    nprobe: int | None = None,
    ef_search: int | None = None,
) -> Run:
    """Top-``k`` doc ids per query, searched in chunks of queries so memory stays bounded.

    ``nprobe`` / ``ef_search``, when given, replace (on the index) the values it was built with (IVF / HNSW). An
    approximate index may return fewer than ``k`` hits for a query (IVF cells holding fewer vectors).
    """
    configure_search(index, nprobe, ef_search)
    run: Run = {}
    k = min(k, index.ntotal)
    with _exact_threads(index):
        for s in tqdm(range(0, len(query_ids), chunk), desc="faiss search", disable=len(query_ids) <= chunk):
            scores, idx = index.search(_rows(query_emb, slice(s, s + chunk)), k)  # (chunk, k) each
            for qid, row_s, row_i in zip(query_ids[s : s + chunk], scores, idx, strict=True):
                run[qid] = {doc_ids[i]: float(sc) for sc, i in zip(row_s, row_i, strict=True) if i >= 0}
    return run


@contextlib.contextmanager
def _exact_threads(index: faiss.Index) -> Iterator[None]:
    """Exhaustive (Flat) search on one thread: its scores come from a blocked matrix product whose last float bits,
    and so the order of near-equal passages (Cranfield's duplicates), depend on the number of OpenMP threads;
    one thread makes a run the same whatever ``OMP_NUM_THREADS`` is. Approximate indexes search each query on
    one thread anyway."""
    if not isinstance(faiss.downcast_index(index), faiss.IndexFlat):
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
