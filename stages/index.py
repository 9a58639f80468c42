"""index: the Lucene (BM25) index and the zero-shot student's corpus embeddings, built once, reused by
mine and evaluate. Reads ``device`` and ``student``.

``--shard i/N`` encodes one contiguous slice of the corpus into ``<out>.shards/<i>-of-<N>/corpus_emb.npy``;
``--merge N`` builds the Lucene index and stacks the N slices in corpus order into the outputs a whole run writes
(docs/sharding.md). Batches differ between a slice and the whole corpus, so merged embeddings may differ from a
whole run's in the last float bits."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from listdistill.atomic import stage_outputs
from listdistill.config import stage_settings
from listdistill.encoder import Encoder
from listdistill.errors import friendly
from listdistill.index.lucene import IndexBuildError, build_index, indexable
from listdistill.records import Doc, EmbeddingsMeta, read_docs, write_embeddings_meta
from listdistill.shard import Shard
from stages.options import params_options, read_params, shard_options, shard_run, stage_main

PART = "corpus_emb.npy"


def stack_npy(path: Path, parts: list[np.ndarray], rows: int = 65_536) -> None:
    """Write the row-wise concatenation of ``parts`` (memory-mapped slices) to ``path``, ``rows`` at a time, so a
    corpus larger than memory can be merged."""
    n, d = sum(len(p) for p in parts), parts[0].shape[1]
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    start = 0
    for part in parts:
        for s in range(0, len(part), rows):
            block = np.asarray(part[s : s + rows], dtype=np.float32)
            out[start : start + len(block)] = block
            start += len(block)
    out.flush()
    del out


def write_meta(out: Path, docs: list[Doc], dim: int, model: str, pooling: str) -> None:
    write_embeddings_meta(out / "corpus_emb.json", EmbeddingsMeta(tuple(d.doc_id for d in docs), dim, model, pooling))


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--corpus", type=click.Path(path_type=Path, exists=True), required=True)
@shard_options
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(params_path: Path, overrides: tuple[str, ...], corpus: Path, shard: Shard, merge: int, out: Path) -> None:
    p = read_params(params_path, overrides)
    docs = read_docs(corpus)
    if indexable(docs) == 0:  # checked before the encoder loads
        raise IndexBuildError(f"{corpus}: expected passages with text to index, got {len(docs)} without any")
    run = shard_run(shard, merge, out, stage_settings(p, "index"), corpus)
    if merge:
        parts = run.parts()
        slices = [np.load(folder / PART, mmap_mode="r") for folder, _ in parts]  # (n_i, d) each, not read yet
        if sum(len(x) for x in slices) != len(docs):
            n = sum(len(x) for x in slices)
            raise click.ClickException(f"the parts of {out} hold {n} embeddings for {len(docs)} passages")
        with stage_outputs(out) as (tmp,):
            tmp.mkdir()
            build_index(docs, tmp / "lucene")
            stack_npy(tmp / "corpus_emb.npy", slices)
            write_meta(tmp, docs, int(slices[0].shape[1]), parts[0][1]["model"], parts[0][1]["pooling"])
        return
    rows = shard.slice(len(docs))
    encoder = Encoder(p.to_encoder())
    emb = encoder.encode_passages([d.contents for d in docs[rows.start : rows.stop]], progress="encode corpus")
    model, pooling = encoder.config.model, encoder.pooling
    if run.is_part:
        folder = run.begin()
        np.save(folder / PART, emb)
        run.finish(folder, len(docs), rows=[rows.start, rows.stop], model=model, pooling=pooling)
        click.echo(f"index: shard {shard}: passages {rows.start}..{rows.stop - 1} encoded to {folder}")
        return
    with stage_outputs(out) as (tmp,):  # Lucene index and embeddings together, or the old ones stay
        tmp.mkdir()
        build_index(docs, tmp / "lucene")
        np.save(tmp / "corpus_emb.npy", emb)
        write_meta(tmp, docs, int(emb.shape[1]), model, pooling)


if __name__ == "__main__":
    stage_main(main)
