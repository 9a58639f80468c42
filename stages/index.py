"""index: the Lucene (BM25) index and the zero-shot student's corpus embeddings, built once, reused by
mine and evaluate."""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np

from listdistill.encoder import Encoder
from listdistill.io import read_docs, write_json
from listdistill.lucene import build_index
from stages.options import encoder_options, make_encoder_config


@click.command(context_settings={"show_default": True})
@click.option("--corpus", type=click.Path(path_type=Path, exists=True), required=True)
@encoder_options
@click.option("--out", type=click.Path(path_type=Path), required=True)
def main(corpus: Path, out: Path, **enc: object) -> None:
    docs = read_docs(corpus)
    build_index(docs, out / "lucene")
    encoder = Encoder(make_encoder_config(enc))
    emb = encoder.encode_passages([d.contents for d in docs], progress="encode corpus")
    tmp = out / "corpus_emb.tmp.npy"
    np.save(tmp, emb)
    tmp.replace(out / "corpus_emb.npy")
    write_json(
        out / "corpus_emb.json",
        {
            "doc_ids": [d.doc_id for d in docs],
            "dim": int(emb.shape[1]),
            "model": encoder.config.model,
            "pooling": encoder.pooling,
        },
    )


if __name__ == "__main__":
    main()
