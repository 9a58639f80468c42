"""index: the Lucene (BM25) index and the zero-shot student's corpus embeddings, built once, reused by
mine and evaluate.

``--shard i/N`` encodes one contiguous slice of the corpus into ``<out>.shards/<i>-of-<N>/corpus_emb.npy``;
``--merge N`` builds the Lucene index and stacks the N slices in corpus order into the outputs a whole run writes
(docs/sharding.md). Batches differ between a slice and the whole corpus, so merged embeddings may differ from a
whole run's in the last float bits."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from listdistill.encoder import Encoder
from listdistill.io import Doc, read_docs, write_json
from listdistill.lucene import build_index
from listdistill.shard import Shard, ShardError, begin_part, fingerprint, finish_part, read_manifests
from stages.options import check_shard_options, encoder_options, make_encoder_config, shard_options

PART = "corpus_emb.npy"


def save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.stem + ".tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def stack_npy(path: Path, parts: list[np.ndarray], rows: int = 65_536) -> None:
    """Write the row-wise concatenation of ``parts`` (memory-mapped slices) to ``path``, ``rows`` at a time, so a
    corpus larger than memory can be merged."""
    tmp = path.with_name(path.stem + ".tmp.npy")
    n, d = sum(len(p) for p in parts), parts[0].shape[1]
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, d))
    start = 0
    for part in parts:
        for s in range(0, len(part), rows):
            block = np.asarray(part[s : s + rows], dtype=np.float32)
            out[start : start + len(block)] = block
            start += len(block)
    out.flush()
    del out
    tmp.replace(path)


@click.command(context_settings={"show_default": True})
@click.option("--corpus", type=click.Path(path_type=Path, exists=True), required=True)
@encoder_options
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(corpus: Path, shard: Shard, merge: int, out: Path, **enc: object) -> None:
    check_shard_options(shard, merge)
    docs = read_docs(corpus)
    config = make_encoder_config(enc)
    key = fingerprint(vars(config), corpus) if merge or not shard.whole else ""
    if merge:
        try:
            parts = read_manifests(out, merge, key)
            slices = [np.load(folder / PART, mmap_mode="r") for folder, _ in parts]  # (n_i, d) each, not read yet
        except (ShardError, FileNotFoundError) as e:
            raise click.ClickException(str(e)) from e
        if sum(len(x) for x in slices) != len(docs):
            n = sum(len(x) for x in slices)
            raise click.ClickException(f"the parts of {out} hold {n} embeddings for {len(docs)} passages")
        model, pooling = parts[0][1]["model"], parts[0][1]["pooling"]
        build_index(docs, out / "lucene")
        stack_npy(out / "corpus_emb.npy", slices)
        write_meta(out, docs, int(slices[0].shape[1]), model, pooling)
        return
    else:
        rows = shard.slice(len(docs))
        encoder = Encoder(config)
        texts = [d.contents for d in docs[rows.start : rows.stop]]
        emb = encoder.encode_passages(texts, progress="encode corpus")  # (n, d)
        model, pooling = encoder.config.model, encoder.pooling
        if not shard.whole:
            folder = begin_part(out, shard)
            save_npy(folder / PART, emb)
            finish_part(folder, shard, key, len(docs), rows=[rows.start, rows.stop], model=model, pooling=pooling)
            click.echo(f"index: shard {shard}: passages {rows.start}..{rows.stop - 1} encoded to {folder}")
            return
    build_index(docs, out / "lucene")
    save_npy(out / "corpus_emb.npy", emb)
    write_meta(out, docs, int(emb.shape[1]), model, pooling)


def write_meta(out: Path, docs: list[Doc], dim: int, model: str, pooling: str) -> None:
    meta = {"doc_ids": [d.doc_id for d in docs], "dim": dim, "model": model, "pooling": pooling}
    write_json(out / "corpus_emb.json", meta)


if __name__ == "__main__":
    main()
