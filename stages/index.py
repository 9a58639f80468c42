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
from listdistill.index.build import PART, read_slices, write_index
from listdistill.index.lucene import IndexBuildError, indexable
from listdistill.records import read_docs
from listdistill.shard import Shard
from stages.options import params_options, read_params, shard_options, shard_run, stage_main


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
        slices = read_slices(parts, docs, out)
        with stage_outputs(out) as (tmp,):
            write_index(tmp, docs, slices, parts[0][1]["model"], parts[0][1]["pooling"])
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
        write_index(tmp, docs, emb, model, pooling)


if __name__ == "__main__":
    stage_main(main)
