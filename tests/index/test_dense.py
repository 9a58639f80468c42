"""faiss index types (Flat, HNSW, IVF,PQ, factory strings) on seeded random unit vectors: exactness, recall
against Flat, bounded-memory building from a memory-mapped .npy, and the spec errors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from listdistill.index import dense
from listdistill.index.dense import IndexConfig

N, D, K = 5_000, 32, 100


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, D)).astype(np.float32)  # (n, D)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module")
def corpus() -> np.ndarray:
    return unit(np.random.default_rng(0), N)  # (N, D)


@pytest.fixture(scope="module")
def queries() -> np.ndarray:
    return unit(np.random.default_rng(1), 50)  # (Q, D)


@pytest.fixture(scope="module")
def indexes(corpus) -> dict[str, faiss.Index]:
    return {spec: dense.build_index(corpus, spec) for spec in ("Flat", "HNSW", "IVF,PQ", "IVF,Flat")}


DOC_IDS = [f"d{i}" for i in range(N)]


def top_ids(index: faiss.Index, q: np.ndarray, k: int = K, **knobs: int) -> list[list[str]]:
    run = dense.search(index, q, [str(i) for i in range(len(q))], DOC_IDS, k, chunk=16, **knobs)
    return [list(run[str(i)]) for i in range(len(q))]


def recall(approx: list[list[str]], exact: list[list[str]]) -> float:
    return float(np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx, exact, strict=True)]))


def test_resolve_spec_names_and_sizes():
    assert dense.resolve_spec(IndexConfig("Flat"), N, D) == "Flat"
    assert dense.resolve_spec(IndexConfig(" exact "), N, D) == "Flat"
    assert dense.resolve_spec(IndexConfig("hnsw"), N, D) == "HNSW32"
    assert dense.resolve_spec(IndexConfig("HNSW", hnsw_m=16), N, D) == "HNSW16"
    assert dense.resolve_spec(IndexConfig("IVF,PQ"), N, D) == "IVF128,PQ8"
    assert dense.resolve_spec(IndexConfig("IVF, PQ", nlist=64, pq_m=16), N, D) == "IVF64,PQ16"
    assert dense.resolve_spec(IndexConfig("IVF,Flat"), N, D) == "IVF128,Flat"
    assert dense.resolve_spec(IndexConfig("IVF256,SQ8"), N, D) == "IVF256,SQ8"  # passed through
    assert [dense.auto_nlist(n) for n in (10, 5_000, 11_429, 200_000, 10**10)] == [1, 128, 293, 1789, 65_536]
    assert [dense.auto_pq_m(d) for d in (3, 30, 32, 384, 768)] == [1, 6, 8, 96, 192]


def test_flat_equals_numpy_top_k(indexes, corpus, queries):
    run = dense.search(indexes["Flat"], queries, [str(i) for i in range(len(queries))], DOC_IDS, K)
    scores = queries @ corpus.T  # (Q, N)
    for i, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[:K]
        assert list(run[str(i)]) == [DOC_IDS[j] for j in order]
        np.testing.assert_allclose(list(run[str(i)].values()), row[order], atol=1e-5)


@pytest.mark.parametrize("spec", ["Flat", "HNSW", "IVF,PQ", "IVF,Flat"])
def test_every_type_returns_k_hits(indexes, queries, spec):
    assert indexes[spec].ntotal == N
    assert all(len(ids) == K for ids in top_ids(indexes[spec], queries))


# Random unit vectors in 32 dimensions have no cluster structure, the hard case for IVF and PQ; measured at the
# defaults (ef_search 128; nprobe 32 of 128 cells, 8 one-byte codes): HNSW 0.998, IVF,Flat 0.74, IVF,PQ 0.63.
@pytest.mark.parametrize(("spec", "bound"), [("HNSW", 0.95), ("IVF,Flat", 0.65), ("IVF,PQ", 0.5)])
def test_recall_at_100_against_flat(indexes, queries, spec, bound):
    assert recall(top_ids(indexes[spec], queries), top_ids(indexes["Flat"], queries)) > bound


def test_search_knobs(indexes, queries):
    exact = top_ids(indexes["Flat"], queries)
    assert recall(top_ids(indexes["IVF,Flat"], queries, nprobe=1), exact) < 0.3
    assert recall(top_ids(indexes["IVF,Flat"], queries, nprobe=10_000), exact) == 1.0  # every cell: exact
    assert faiss.extract_index_ivf(indexes["IVF,Flat"]).nprobe == 128  # capped at nlist
    low = recall(top_ids(indexes["HNSW"], queries, ef_search=16, k=10), [e[:10] for e in exact])
    high = recall(top_ids(indexes["HNSW"], queries, ef_search=256, k=10), [e[:10] for e in exact])
    assert low <= high == 1.0


def test_memmapped_chunked_build_equals_in_memory(tmp_path, corpus, queries):
    path = tmp_path / "corpus_emb.npy"
    np.save(path, corpus)
    chunked = dense.build_index(path, IndexConfig("Flat", add_chunk=777))
    assert faiss.rev_swig_ptr(faiss.downcast_index(chunked).get_xb(), N * D).tobytes() == corpus.tobytes()
    assert top_ids(chunked, queries) == top_ids(dense.build_index(corpus, "Flat"), queries)
    # Trained types: a seeded sample smaller than N, chunked adds; the same seed gives the same index.
    cfg = IndexConfig("IVF,PQ", max_train=3_000, add_chunk=1_000, seed=7)
    a, b = dense.build_index(path, cfg), dense.build_index(corpus, cfg)
    assert faiss.serialize_index(a).tobytes() == faiss.serialize_index(b).tobytes()


def test_k_above_corpus_size(indexes, queries):
    run = dense.search(indexes["Flat"], queries[:2], ["a", "b"], DOC_IDS, k=N + 10)
    assert len(run["a"]) == N


@pytest.mark.parametrize(
    ("spec", "kwargs", "match"),
    [
        ("Bogus", {}, r"invalid faiss index spec 'Bogus': could not parse index string Bogus; use 'Flat' \(exact\)"),
        ("IVF,PQ", {"pq_m": 7}, r"invalid faiss index spec 'IVF,PQ' \(resolved to 'IVF128,PQ7'\): The dimension"),
        ("  ", {}, "empty faiss index spec"),
        ("IVF,Flat", {"nlist": 9_000}, "9000 IVF cells but only 5000 vectors"),
    ],
)
def test_bad_specs_raise(corpus, spec, kwargs, match):
    with pytest.raises(ValueError, match=match):
        dense.build_index(corpus, IndexConfig(spec, **kwargs))


def test_bad_inputs_raise(corpus):
    with pytest.raises(ValueError, match=r"cannot train faiss index 'IVF2,PQ8' on 100 vectors: Number of training"):
        dense.build_index(corpus[:100], "IVF,PQ")  # 256 PQ centroids need 256 points
    with pytest.raises(ValueError, match=r"expected \(N, d\) embeddings"):
        dense.build_index(corpus[0], "Flat")


def test_settings_in_the_spec_string():
    assert dense.parse_index_config("IVF,PQ nprobe=64 pq_m=8") == IndexConfig(spec="IVF,PQ", nprobe=64, pq_m=8)
    assert dense.parse_index_config("Flat") == IndexConfig()
    with pytest.raises(ValueError, match=r"'nprobes=4' is not <setting>=<integer>.*'nprobe'"):
        dense.parse_index_config("IVF,Flat nprobes=4")
    with pytest.raises(ValueError, match="'ef_search=many'"):
        dense.parse_index_config("HNSW ef_search=many")


def test_spec_string_settings_reach_the_index(corpus):
    index = dense.build_index(corpus, "IVF,Flat nlist=16 nprobe=3")
    assert faiss.extract_index_ivf(index).nlist == 16 and faiss.extract_index_ivf(index).nprobe == 3
