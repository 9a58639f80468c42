"""proxy: the label-free test set (:mod:`listdistill.evaluate.proxy`): queries the generator writes for the held-out
passages, mined like training queries, and judged by the teacher. With judgments (no held-out passages) it writes
empty files.

Reads ``seed``, ``device``, the generator's ``generate.*`` keys, ``student``, ``bm25``, ``mine``, ``teacher``,
``score.depth``, ``score.norm_low``, ``score.norm_high`` and ``proxy``."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.errors import friendly
from listdistill.evaluate.proxy import ProxySet, label
from listdistill.generate import generate_queries
from listdistill.index.runs import IndexPaths
from listdistill.io import write_json
from listdistill.mine.candidates import build_retrievers, excluded_docs, mine_units, read_duplicates
from listdistill.records import (
    GeneratedQuery,
    check_known,
    read_docs,
    read_qrels,
    write_generated,
    write_qrels,
    write_queries,
)
from listdistill.score.lists import raw_scores, teacher_lists
from listdistill.shard import units
from listdistill.teachers import build_teacher
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--prepared", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True)
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=Path(".cache/proxy"))
@click.option("--cache-dir", type=click.Path(path_type=Path), default=Path(".cache/embeddings"),
              help="Corpus embeddings of extra dense:<model-ref> retrievers.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder of the test set.")
@click.option("--stats", type=click.Path(path_type=Path), required=True, help="Stats JSON (DVC metric).")
def main(params_path: Path, overrides: tuple[str, ...], prepared: Path, index_dir: Path, checkpoint_dir: Path,
         cache_dir: Path, out: Path, stats: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    heldout = prepared / "heldout.jsonl"
    result = build(p, prepared, heldout, index_dir, checkpoint_dir, cache_dir) if read_docs(heldout) else None
    proxy = result or ProxySet([], {}, {}, [], {"queries": 0})
    with stage_outputs(out, stats) as (tmp, tmp_stats):
        tmp.mkdir()
        write_queries(tmp / "queries.jsonl", proxy.queries)
        write_qrels(tmp / "qrels.txt", proxy.qrels)
        write_qrels(tmp / "sources.txt", proxy.sources)
        write_generated(tmp / "generated.jsonl", proxy.generated)
        write_json(tmp_stats, proxy.stats)
    click.echo(f"proxy: {proxy.stats['queries']} label-free test queries")


def build(p: Params, prepared: Path, heldout: Path, index_dir: Path, checkpoint_dir: Path, cache_dir: Path) -> ProxySet:
    # every input checked against the corpus before any work (docs/formats.md)
    index, m, corpus = IndexPaths(index_dir), p.mine, prepared / "corpus.jsonl"
    docs = read_docs(corpus)
    known = {d.doc_id for d in docs}
    held = read_docs(heldout)
    check_known((d.doc_id for d in held), known, f"passages of the corpus {corpus}", str(heldout))
    qrels = read_qrels(prepared / "qrels.txt", docs=docs)
    excluded = excluded_docs(qrels, read_duplicates(prepared / "duplicates.jsonl", known))
    index.check(docs, corpus, m.faiss_index)
    doc_ids = index.doc_ids
    generated: list[GeneratedQuery] = []
    counts: dict[str, object] = {}
    for query_type in p.proxy.types:
        config = dataclasses.replace(p.to_generate(query_type), passages=0)  # every held-out passage
        made = generate_queries(config, heldout, checkpoint_dir=checkpoint_dir)
        generated += made.queries
        counts[query_type] = {"generated": made.stats.get("generated"), "kept": made.stats.get("kept")}
        if made.checkpoint is not None:
            made.checkpoint.unlink(missing_ok=True)
    if not generated:
        raise click.ClickException(f"{heldout}: the generator kept no query for the held-out passages")
    retrievers = build_retrievers(
        m.retrievers, index.lucene, index.embeddings, doc_ids, p.to_encoder(), p.bm25.k1, p.bm25.b, m.faiss_index,
        docs, corpus, cache_dir,
    )  # fmt: skip
    mined = mine_units(retrievers, generated, p.to_mine(), excluded, len(doc_ids), units(len(generated), 1024))
    if not mined.candidates:
        raise click.ClickException(f"{heldout}: no generated query retrieved its own passage (mine's round trip)")
    lists = teacher_lists(mined.candidates, p.score.depth)
    teacher = build_teacher(p.to_teacher(), p.to_resources(index.lucene, index.embeddings, doc_ids))
    raw = raw_scores(lists, teacher, {d.doc_id: d for d in docs})
    result = label(mined.candidates, lists, raw, p.to_proxy())
    result.stats = {
        **result.stats,
        "heldout_passages": len(held),
        "generated_by_type": counts,
        "kept_by_mine": mined.stats["kept"],
        "what": "agreement with the teacher on synthetic queries, not relevance",
    }
    return result


if __name__ == "__main__":
    stage_main(main)
