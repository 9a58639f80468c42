"""Candidate mining for synthetic queries: several first-stage retrievers, reciprocal rank fusion, a
round-trip filter, and leak-free candidate lists.

For each generated query every retriever searches the corpus *with the excluded passages removed* (see
:func:`excluded_docs`; the query's own source passage is never removed), the lists are fused with RRF, and the
query is kept when its source passage is in the top ``round_trip_depth`` of the fused list (rule ``fused``) or of
any single retriever's list (rule ``any``). The kept queries carry their fused list of up to ``k`` passages.

Retrievers are named by a spec string joined with ``+`` (``bm25+dense``): ``bm25`` (Lucene BM25 over the index
stage's index), ``dense`` (the zero-shot student over the index stage's corpus embeddings) and
``dense:<model-ref>`` (another dense model; its corpus embeddings are computed once and cached on disk, keyed by
the model settings and the corpus file's content).

Scale: queries are encoded and searched in chunks (faiss) or batches (Lucene); no query x corpus matrix is
held beyond one chunk. :func:`mine_units` retrieves and mines consecutive units of queries separately, so that a
shard of the units (:mod:`listdistill.shard`) computes exactly what a whole run computes for them; a shard writes
its units' results with :func:`write_part`, and :func:`merge_parts` joins the parts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from listdistill.encoder import Encoder, EncoderConfig
from listdistill.index import dense
from listdistill.io import FormatError, Qrels, Run, ranked
from listdistill.mine.fusion import rrf
from listdistill.models import dense_member_config, dense_member_ref
from listdistill.records import Doc, Duplicate, GeneratedQuery, MinedQuery, numbered_jsonl, write_jsonl
from listdistill.shard import ShardError

ROUND_TRIP_RULES = ("fused", "any")


@dataclass(frozen=True)
class MineConfig:
    """No defaults for what is a param: ``Params.to_mine`` builds it from ``mine``."""

    k: int  # candidates kept per query (fused list depth)
    rrf_k: int  # RRF constant
    round_trip_depth: int  # the source must be in this top-N
    round_trip_rule: str  # fused | any
    recall_cutoffs: tuple[int, ...] = (1, 5, 20)

    def __post_init__(self) -> None:
        if self.round_trip_rule not in ROUND_TRIP_RULES:
            raise ValueError(f"round_trip_rule must be one of {ROUND_TRIP_RULES}, got {self.round_trip_rule!r}")
        if self.k < 1 or self.round_trip_depth < 1 or self.rrf_k < 1:
            raise ValueError(f"k, rrf_k and round_trip_depth must be >= 1, got {self}")


@dataclass
class MineResult:
    candidates: list[MinedQuery]  # kept queries, in input order
    run: Run  # fused run of the kept queries (excluded passages removed)
    stats: dict[str, object] = field(default_factory=dict)
    # 1-based rank of each query's source passage (None: not retrieved), per list ("fused", then each retriever),
    # for every query in, in input order
    ranks: dict[str, list[int | None]] = field(default_factory=dict)


def excluded_docs(qrels: Qrels, duplicates: Iterable[Duplicate]) -> set[str]:
    """Passages no candidate list may contain.

    Every passage judged relevant (rel > 0) in the test qrels; every passage that prepare found to duplicate
    (or be contained in) another; and the kept copy of a judged passage's duplicate group, since its text is a
    test-relevant text too.
    """
    judged = {d for per_q in qrels.values() for d, rel in per_q.items() if rel > 0}
    kept_copy = {d.doc_id: d.duplicate_of for d in duplicates}
    return judged | set(kept_copy) | {kept_copy[d] for d in judged if d in kept_copy}


class Retriever(Protocol):
    name: str

    def search(self, query_ids: Sequence[str], texts: Sequence[str], k: int) -> Run: ...


class BM25Retriever:
    """BM25 (Lucene) over the index stage's index; searches are batched."""

    def __init__(self, index_dir: str | Path, k1: float, b: float, name: str = "bm25") -> None:
        from listdistill.index.lucene import BM25

        self.name = name
        self._bm25 = BM25(index_dir, k1, b)

    def search(self, query_ids: Sequence[str], texts: Sequence[str], k: int) -> Run:
        return self._bm25.search(query_ids, texts, k)


class DenseRetriever:
    """Exact inner-product search (faiss) over precomputed corpus embeddings, queries encoded in chunks."""

    def __init__(
        self,
        encoder: Encoder,
        corpus_emb: np.ndarray,
        doc_ids: Sequence[str],
        index_type: str = "Flat",
        chunk: int = 1024,
        name: str = "dense",
    ) -> None:
        if len(corpus_emb) != len(doc_ids):
            raise ValueError(f"{len(corpus_emb)} corpus embeddings but {len(doc_ids)} doc ids")
        self.name = name
        self.encoder = encoder
        self.doc_ids = list(doc_ids)
        self.index = dense.build_index(corpus_emb, index_type)
        self.chunk = chunk

    def search(self, query_ids: Sequence[str], texts: Sequence[str], k: int) -> Run:
        run: Run = {}
        for s in range(0, len(query_ids), self.chunk):
            q_emb = self.encoder.encode_queries(texts[s : s + self.chunk])  # (chunk, d)
            run.update(dense.search(self.index, q_emb, query_ids[s : s + self.chunk], self.doc_ids, k, self.chunk))
        return run


def parse_retrievers(spec: str) -> list[str]:
    """Split ``bm25+dense+dense:<model-ref>`` into its parts, checking each and rejecting repeats."""
    parts = [p.strip() for p in spec.split("+") if p.strip()]
    if not parts:
        raise ValueError("no retrievers given; use e.g. 'bm25+dense'")
    for p in parts:
        if p == "bm25":
            continue
        try:
            dense_member_ref(p)
        except ValueError:
            raise ValueError(f"unknown retriever {p!r} in {spec!r}; use bm25, dense or dense:<model-ref>") from None
    if len(set(parts)) != len(parts):
        raise ValueError(f"retriever repeated in {spec!r}")
    return parts


def cached_corpus_embeddings(
    config: EncoderConfig, docs: Sequence[Doc], corpus_file: str | Path, cache_dir: str | Path
) -> np.ndarray:
    """Corpus embeddings of another dense model, encoded once and reused by every query type."""
    digest = hashlib.sha256(Path(corpus_file).read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps([digest, repr(config)]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"corpus_emb-{key}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    emb = Encoder(config).encode_passages([d.contents for d in docs], progress="encode corpus")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, emb)
    tmp.replace(path)
    return emb


def build_retrievers(
    spec: str,
    lucene_dir: Path,
    corpus_emb_path: Path,
    doc_ids: Sequence[str],
    student: EncoderConfig,
    bm25_k1: float,
    bm25_b: float,
    index_type: str = "Flat",
    docs: Sequence[Doc] | None = None,
    corpus_file: Path | None = None,
    cache_dir: Path = Path(".cache/embeddings"),
) -> list[Retriever]:
    """Instantiate the retrievers of a spec (see the module docstring)."""
    out: list[Retriever] = []
    for part in parse_retrievers(spec):
        if part == "bm25":
            out.append(BM25Retriever(lucene_dir, bm25_k1, bm25_b))
        elif part == "dense":
            out.append(DenseRetriever(Encoder(student), np.load(corpus_emb_path, mmap_mode="r"), doc_ids, index_type))
        else:
            if docs is None or corpus_file is None:
                raise ValueError(f"retriever {part!r} needs the corpus to encode")
            if [d.doc_id for d in docs] != list(doc_ids):
                raise ValueError("the corpus file does not match the index's doc ids")
            ref = dense_member_ref(part)
            assert ref is not None  # parse_retrievers accepted it as dense:<model-ref>
            cfg = dense_member_config(student, ref)
            emb = cached_corpus_embeddings(cfg, docs, corpus_file, cache_dir)
            out.append(DenseRetriever(Encoder(cfg), emb, doc_ids, index_type, name=part))
    return out


def drop_excluded(run: Run, excluded: set[str], keep: Mapping[str, str], k: int) -> Run:
    """Remove excluded passages from each query's list (except ``keep[query_id]``) and cut to ``k``."""
    out: Run = {}
    for qid, scores in run.items():
        own = keep.get(qid)
        out[qid] = dict(ranked({d: s for d, s in scores.items() if d not in excluded or d == own}, k))
    return out


def retrieve(
    retrievers: Sequence[Retriever],
    queries: Sequence[GeneratedQuery],
    k: int,
    excluded: set[str],
    n_docs: int,
) -> dict[str, Run]:
    """Each retriever's top ``k`` over the corpus without the excluded passages.

    A first search goes ``2k`` deep; queries left with fewer than ``k`` passages after removal (while the
    retriever still had more to give) are searched again at twice the depth, up to ``k + |excluded|`` (which
    always suffices) or the corpus size. Deep searches thus happen only for the queries that need them.
    """
    keep = {q.query_id: q.source_doc_id for q in queries}
    cap = min(n_docs, k + len(excluded))
    runs: dict[str, Run] = {}
    for r in retrievers:
        run: Run = {}
        pending, depth = list(queries), min(cap, 2 * k)
        while pending:
            raw = r.search([q.query_id for q in pending], [q.text for q in pending], depth)
            run.update(drop_excluded(raw, excluded, keep, k))
            if depth >= cap:
                break
            pending = [q for q in pending if len(run[q.query_id]) < k and len(raw.get(q.query_id, {})) >= depth]
            depth = min(cap, 2 * depth)
        runs[r.name] = run
    return runs


def source_rank(ids: Sequence[str], source: str) -> int | None:
    """1-based rank of ``source`` in ``ids``, or None."""
    try:
        return ids.index(source) + 1
    except ValueError:
        return None


def mine(queries: Sequence[GeneratedQuery], runs: Mapping[str, Run], config: MineConfig) -> MineResult:
    """Fuse the retrievers' runs, apply the round-trip filter and build candidate lists and stats."""
    fused = rrf(list(runs.values()), k=config.rrf_k)
    result = MineResult(candidates=[], run={})
    ranks: dict[str, list[int | None]] = {name: [] for name in ["fused", *runs]}
    for q in queries:
        fused_ids = [d for d, _ in ranked(fused.get(q.query_id, {}), config.k)]
        ranks["fused"].append(source_rank(fused_ids, q.source_doc_id))
        for name, run in runs.items():
            ranks[name].append(source_rank([d for d, _ in ranked(run.get(q.query_id, {}))], q.source_doc_id))
        considered = ["fused"] if config.round_trip_rule == "fused" else list(runs)
        if not any((r := ranks[name][-1]) is not None and r <= config.round_trip_depth for name in considered):
            continue
        result.candidates.append(MinedQuery(q.query_id, q.text, q.query_type, q.source_doc_id, tuple(fused_ids)))
        result.run[q.query_id] = {d: fused[q.query_id][d] for d in fused_ids}
    result.ranks = ranks
    result.stats = mine_stats(len(queries), len(result.candidates), ranks, config.recall_cutoffs)
    return result


def mine_units(
    retrievers: Sequence[Retriever],
    queries: Sequence[GeneratedQuery],
    config: MineConfig,
    excluded: set[str],
    n_docs: int,
    units: Sequence[range],
) -> MineResult:
    """:func:`retrieve` and :func:`mine` each unit of ``queries`` (ranges of consecutive queries) on its own,
    then :func:`combine` them: the results of a unit do not depend on the other units."""
    parts = []
    for unit in units:
        qs = queries[unit.start : unit.stop]
        parts.append(mine(qs, retrieve(retrievers, qs, config.k, excluded, n_docs), config))
    return combine(parts, ["fused", *(r.name for r in retrievers)], config)


def combine(parts: Sequence[MineResult], names: Sequence[str], config: MineConfig) -> MineResult:
    """Join the results of consecutive units, recomputing the stats over all their queries; ``names``: the
    lists of ``ranks`` ("fused", then each retriever), needed when there are no queries at all."""
    result = MineResult(candidates=[], run={}, ranks={name: [] for name in names})
    for part in parts:
        result.candidates.extend(part.candidates)
        result.run.update(part.run)
        for name in names:
            result.ranks[name].extend(part.ranks[name])
    n_in = len(result.ranks["fused"])
    result.stats = mine_stats(n_in, len(result.candidates), result.ranks, config.recall_cutoffs)
    return result


def write_part(path: str | Path, queries: Sequence[GeneratedQuery], result: MineResult) -> int:
    """A shard's results, one JSON line per query in: ``query_id``, ``ranks`` (list name -> source rank), and
    for a kept query its candidate record (``mined``) and fused ``scores`` (full precision; null when dropped)."""
    kept = {c.query_id: c for c in result.candidates}

    def record(i: int, q: GeneratedQuery) -> dict[str, object]:
        mined = kept.get(q.query_id)
        scores = None if mined is None else [result.run[q.query_id][d] for d in mined.candidates]
        ranks = {name: r[i] for name, r in result.ranks.items()}
        record = None if mined is None else asdict(mined)
        return {"query_id": q.query_id, "ranks": ranks, "mined": record, "scores": scores}

    return write_jsonl(path, (record(i, q) for i, q in enumerate(queries)))


def read_part(path: str | Path, names: Sequence[str]) -> tuple[list[str], MineResult]:
    """The query ids and the results (without stats) of a part written by :func:`write_part`."""
    ids: list[str] = []
    result = MineResult(candidates=[], run={}, ranks={name: [] for name in names})
    for where, o in numbered_jsonl(path):
        missing = [k for k in ("query_id", "ranks", "mined", "scores") if k not in o]
        if missing:
            raise FormatError(f"{where}: missing key(s) {missing}; expected a part written by write_part")
        if set(o["ranks"]) != set(names):
            raise FormatError(f"{where}: expected ranks of {sorted(names)}, got {sorted(o['ranks'])}")
        ids.append(str(o["query_id"]))
        for name in names:
            result.ranks[name].append(o["ranks"][name])
        if o["mined"] is not None:
            mined = MinedQuery(**{**o["mined"], "candidates": tuple(o["mined"]["candidates"])})
            result.candidates.append(mined)
            result.run[ids[-1]] = dict(zip(mined.candidates, map(float, o["scores"]), strict=True))
    return ids, result


def recall_at(ranks: Iterable[int | None], cutoff: int) -> float:
    values = [1.0 if r is not None and r <= cutoff else 0.0 for r in ranks]
    return round(float(np.mean(values)), 6) if values else 0.0


def mine_stats(
    n_in: int, n_kept: int, ranks: Mapping[str, Sequence[int | None]], cutoffs: Sequence[int]
) -> dict[str, object]:
    """Counts and the recall of the source passage at each cutoff, fused and per retriever, over all queries in."""
    stats: dict[str, object] = {"queries_in": n_in, "kept": n_kept, "dropped": n_in - n_kept}
    stats["kept_fraction"] = round(n_kept / n_in, 6) if n_in else 0.0
    for name, rs in ranks.items():
        stats[f"source_recall_{name}"] = {f"R@{c}": recall_at(rs, c) for c in cutoffs}
    return stats


def summary(stats: Mapping[str, object]) -> str:
    """The stage's line for a person: queries kept of those in, and the fused list's source recall."""
    return f"{stats['kept']}/{stats['queries_in']} kept; source recall (fused) {stats['source_recall_fused']}"


def merge_parts(
    paths: Sequence[str | Path], queries: Sequence[GeneratedQuery], names: Sequence[str], config: MineConfig
) -> MineResult:
    """Join the parts (in shard order) into the whole run's result; they must hold ``queries`` in order."""
    parts = [read_part(p, names) for p in paths]
    if [i for ids, _ in parts for i in ids] != [q.query_id for q in queries]:
        raise ShardError(f"the parts {[str(p) for p in paths]} do not hold the generated queries in order")
    return combine([part for _, part in parts], names, config)
