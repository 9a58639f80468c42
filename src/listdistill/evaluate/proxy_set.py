"""The proxy stage's label-free test set, built: the generator's queries for the held-out passages, mined like
training queries and judged by the teacher (the labelling itself: :func:`listdistill.evaluate.proxy.label`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from listdistill.encoder import EncoderConfig
from listdistill.errors import StageError
from listdistill.evaluate.proxy import ProxyConfig, ProxySet, label
from listdistill.generate import GenerateConfig, generate_queries
from listdistill.index.runs import IndexPaths
from listdistill.io import write_json
from listdistill.mine.candidates import MineConfig, build_retrievers, excluded_docs, mine_units
from listdistill.records import (
    GeneratedQuery,
    check_known,
    read_docs,
    read_duplicates,
    read_qrels,
    write_generated,
    write_qrels,
    write_queries,
)
from listdistill.score.lists import raw_scores, teacher_lists
from listdistill.shard import units
from listdistill.teachers import TeacherConfig, TeacherResources, build_teacher


def no_proxy() -> ProxySet:
    """The empty set written with judgments (no held-out passages)."""
    return ProxySet([], {}, {}, [], {"queries": 0})


def build_proxy(prepared: Path, heldout: Path, index_dir: Path, checkpoint_dir: Path, cache_dir: Path, *,
                generate: Sequence[tuple[str, GenerateConfig]], retrievers: str, faiss_index: str,
                encoder: EncoderConfig, k1: float, b: float, mine: MineConfig, teacher: TeacherConfig,
                resources: Callable[[list[str]], TeacherResources], proxy: ProxyConfig) -> ProxySet:  # fmt: skip
    """The proxy set of the held-out passages ``heldout``: ``generate`` the generator's config of each query type,
    (every held-out passage is used), ``retrievers`` (mine.retrievers) mine their candidates, the ``teacher`` (with
    ``resources(doc_ids)``) scores the first ``proxy.depth``."""
    # every input checked against the corpus before any work (docs/formats.md)
    index, corpus = IndexPaths(index_dir), prepared / "corpus.jsonl"
    docs = read_docs(corpus)
    known = {d.doc_id for d in docs}
    held = read_docs(heldout)
    check_known((d.doc_id for d in held), known, f"passages of the corpus {corpus}", str(heldout))
    qrels = read_qrels(prepared / "qrels.txt", docs=docs)
    excluded = excluded_docs(qrels, read_duplicates(prepared / "duplicates.jsonl", known))
    index.check(docs, corpus, faiss_index)
    doc_ids = index.doc_ids
    generated, counts = generate_heldout(generate, heldout, checkpoint_dir)
    models = build_retrievers(retrievers, index.lucene, index.embeddings, doc_ids, encoder, k1, b, faiss_index,
                              docs, corpus, cache_dir)  # fmt: skip
    mined = mine_units(models, generated, mine, excluded, len(doc_ids), units(len(generated), 1024))
    if not mined.candidates:
        raise StageError(f"{heldout}: no generated query retrieved its own passage (mine's round trip)")
    lists = teacher_lists(mined.candidates, proxy.depth)
    raw = raw_scores(lists, build_teacher(teacher, resources(doc_ids)), {d.doc_id: d for d in docs})
    result = label(mined.candidates, lists, raw, proxy)
    result.stats = {
        **result.stats,
        "heldout_passages": len(held),
        "generated_by_type": counts,
        "kept_by_mine": mined.stats["kept"],
        "what": "agreement with the teacher on synthetic queries, not relevance",
    }
    return result


def generate_heldout(generate: Sequence[tuple[str, GenerateConfig]], heldout: Path,
                     checkpoint_dir: Path) -> tuple[list[GeneratedQuery], dict[str, object]]:  # fmt: skip
    """The kept queries of every type for every held-out passage, and each type's generated and kept counts."""
    generated: list[GeneratedQuery] = []
    counts: dict[str, object] = {}
    for query_type, config in generate:
        made = generate_queries(dataclasses.replace(config, passages=0), heldout, checkpoint_dir=checkpoint_dir)
        generated += made.queries
        counts[query_type] = {"generated": made.stats.get("generated"), "kept": made.stats.get("kept")}
        if made.checkpoint is not None:
            made.checkpoint.unlink(missing_ok=True)
    if not generated:
        raise StageError(f"{heldout}: the generator kept no query for the held-out passages")
    return generated, counts


def write_proxy(folder: Path, stats: Path, proxy: ProxySet) -> None:
    """The proxy stage's outputs: the new folder ``folder`` of the test set, and its ``stats`` (JSON)."""
    folder.mkdir()
    write_queries(folder / "queries.jsonl", proxy.queries)
    write_qrels(folder / "qrels.txt", proxy.qrels)
    write_qrels(folder / "sources.txt", proxy.sources)
    write_generated(folder / "generated.jsonl", proxy.generated)
    write_json(stats, proxy.stats)
