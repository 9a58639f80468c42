"""Development fixture in the ``score`` stage's format, for working on ``train`` before real scored lists exist.

Made-up queries from the generation pool (never the test queries): type ``titles`` is a passage's title, type
``keywords`` a seeded sample of its longer words. Candidates are the BM25 top ``k`` (BM25 score as ``raw_score``,
min-max normalised over the list as ``teacher_score``); the passage the query came from is its source.

    python bench/make_scored_fixture.py --pool data/prepared/pool.jsonl --index data/index/lucene --out /tmp/fx/scored
"""

from __future__ import annotations

import random
import zlib
from pathlib import Path

import click

from listdistill.config import Params
from listdistill.index.lucene import BM25
from listdistill.io import ranked
from listdistill.records import iter_jsonl, write_jsonl


def keywords(text: str, rng: random.Random) -> str:
    words = sorted({w for w in text.split() if len(w) > 6 and w.isalpha()})
    return " ".join(rng.sample(words, min(5, len(words))))


@click.command()
@click.option("--pool", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--index", type=click.Path(path_type=Path, exists=True), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--k", default=30, help="Candidates per query.")
@click.option("--dev-fraction", default=0.1)
def main(pool: Path, index: Path, out: Path, k: int, dev_fraction: float) -> None:
    docs = list(iter_jsonl(pool, ("doc_id", "text")))
    rng = random.Random(0)
    queries = {
        "titles": [(d["doc_id"], d.get("title") or "") for d in docs],
        "keywords": [(d["doc_id"], keywords(d["text"], rng)) for d in docs],
    }
    p = Params()
    bm25 = BM25(index, p.bm25.k1, p.bm25.b)
    for qtype, pairs in queries.items():
        pairs = [(did, text) for did, text in pairs if len(text.split()) >= 3]
        qids = [f"{qtype}-{did}" for did, _ in pairs]
        run = bm25.search(qids, [t for _, t in pairs], k)
        splits: dict[str, list[dict]] = {"train": [], "dev": []}
        for qid, (did, text) in zip(qids, pairs, strict=True):
            hits = ranked(run.get(qid, {}), k)
            if not hits:
                continue
            hi, lo = hits[0][1], hits[-1][1]
            cands = [
                {"doc_id": d, "teacher_score": round((s - lo) / (hi - lo) if hi > lo else 1.0, 6), "raw_score": s}
                for d, s in hits
            ]
            split = "dev" if zlib.crc32(qid.encode()) % 1000 < dev_fraction * 1000 else "train"
            rec = {"query_id": qid, "text": text, "query_type": qtype, "source_doc_id": did, "candidates": cands}
            splits[split].append(rec)
        for split, recs in splits.items():
            n = write_jsonl(out / qtype / f"{split}.jsonl", recs)
            click.echo(f"{qtype}/{split}: {n} queries")


if __name__ == "__main__":
    main()
