"""Corpora of a chosen size for the cost curve (bench/cost_curve.md): a real judged collection plus filler passages.

The judged core is Vaswani (11,429 abstracts, 93 queries with judgments), so every stage, evaluate included, runs
as on a real collection; the rest are **filler passages built for cost only**: windows of one to five
consecutive sentences of the other shared collections' documents (Cranfield, MED, LISA, SciFact, ADI), each
window once, in a seeded order, until the corpus holds ``--size`` passages. Filler passages are never judged, and
nothing measured on these corpora is a retrieval result: only the stages' CPU time and memory are.

Writes a BEIR folder (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) per size::

    python bench/scale_corpus.py --mirror ../shared/datasets --sizes 10000,100000,300000 --out /tmp/scale
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from pathlib import Path

import click

from listdistill.config import Params
from listdistill.data import load_collection
from listdistill.records import Doc

FILLER_SOURCES = ("cranfield", "med", "lisa", "scifact", "adi")
SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE.split(text) if len(s.split()) >= 4]


def windows(docs: list[Doc]) -> Iterator[str]:
    """Every window of 1 to 5 consecutive sentences of every document (those of 1 first, then 2, and so on)."""
    split = [sentences(d.contents) for d in docs]
    for width in (1, 2, 3, 4, 5):
        for sents in split:
            for i in range(len(sents) - width + 1):
                yield " ".join(sents[i : i + width])


def collection(name: str, mirror: Path, cache: Path) -> tuple[list[Doc], list, dict]:
    """One shared collection, read with the params' dataset defaults (``dataset.name`` and ``mirror`` set)."""
    p = Params()
    folder = name if name in ("cranfield", "vaswani") else str(mirror / name)
    p.dataset.name, p.dataset.mirror = folder, str(mirror)
    col = load_collection(p.to_dataset(cache_dir=str(cache)))
    return col.docs, col.queries, col.qrels


@click.command()
@click.option("--mirror", type=click.Path(path_type=Path, file_okay=False, exists=True), required=True)
@click.option("--sizes", default="10000,100000,300000", help="Comma-separated corpus sizes (passages).")
@click.option("--seed", type=int, default=0)
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True)
def main(mirror: Path, sizes: str, seed: int, out: Path) -> None:
    core, queries, qrels = collection("vaswani", mirror, out / ".cache")
    filler_docs = [d for name in FILLER_SOURCES for d in collection(name, mirror, out / ".cache")[0]]
    filler = list(dict.fromkeys(windows(filler_docs)))  # distinct windows
    random.Random(seed).shuffle(filler)
    for size in sorted(int(s) for s in sizes.split(",")):
        size = max(size, len(core))  # the smallest corpus is the judged core itself
        need = size - len(core)
        if need > len(filler):
            raise click.ClickException(f"only {len(filler)} filler passages for a corpus of {size}")
        folder = out / f"{size // 1000}k"
        (folder / "qrels").mkdir(parents=True, exist_ok=True)
        with (folder / "corpus.jsonl").open("w", encoding="utf-8") as f:
            for d in core:
                f.write(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n")
            for i, text in enumerate(filler[: max(need, 0)]):
                f.write(json.dumps({"_id": f"filler-{i}", "title": "", "text": text}) + "\n")
        with (folder / "queries.jsonl").open("w", encoding="utf-8") as f:
            for q in queries:
                f.write(json.dumps({"_id": q.query_id, "text": q.text}) + "\n")
        with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for qid, docs in qrels.items():
                for did, rel in docs.items():
                    f.write(f"{qid}\t{did}\t{rel}\n")
        click.echo(f"{folder}: {len(core)} Vaswani documents + {max(need, 0)} filler passages", err=True)


if __name__ == "__main__":
    main()
