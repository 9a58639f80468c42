"""train: fine-tune the student on the teacher-scored lists of the query types in ``query_mix`` (``mix``'s folder).

Reads ``seed``, ``device``, ``loss``, ``query_mix``, ``student`` and ``train``. Data-parallel on several
processes with the same arguments, e.g. ``torchrun --nproc_per_node 4 -m stages.train ...`` (gloo on CPU, NCCL on
GPU; ``train.batch_size`` stays the global batch): see :mod:`listdistill.distributed`. Only rank 0 writes the
model, metrics and checkpoints.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from listdistill import distributed
from listdistill.encoder import Encoder
from listdistill.errors import friendly
from listdistill.train import Checkpoints, train
from listdistill.train.export import save_run
from listdistill.train.inputs import read_inputs
from listdistill.train.objective import with_teacher_temperature
from listdistill.train.summary import counts, summarise
from stages.options import params_options, read_params, stage_main


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--scored", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="Folder of <type>/{train,dev}.jsonl (the mix stage's).")  # fmt: skip
@click.option("--corpus", type=click.Path(path_type=Path, exists=True, dir_okay=False), required=True)
@click.option("--index", "index_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="The index stage's folder (train.tower query trains against its embeddings).")  # fmt: skip
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=10, help="Steps between checkpoints.")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), required=True, help="Resumable checkpoints.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Model folder to write.")
@click.option("--metrics", type=click.Path(path_type=Path), required=True)
@click.option("--curve", type=click.Path(path_type=Path), required=True, help="Per-step TSV: loss, lr.")
@click.option("--dev-curve", type=click.Path(path_type=Path), required=True, help="Per-epoch TSV: dev losses.")
def main(params_path: Path, overrides: tuple[str, ...], scored: Path, corpus: Path, index_dir: Path | None,
         checkpoint_every: int, checkpoint_dir: Path, out: Path, metrics: Path, curve: Path,
         dev_curve: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    enc, t = p.to_encoder(), p.train
    world = distributed.init_from_env(enc.device)
    enc = dataclasses.replace(enc, device=distributed.local_device(enc.device, world))
    cfg = p.to_train(enc.device, checkpoint_every)
    data = read_inputs(scored, corpus, index_dir, p.to_lists(), enc.model, cfg.tower)
    encoder = Encoder(enc)
    if t.passage_max_length > 0:
        encoder.config = dataclasses.replace(enc, passage_max_length=t.passage_max_length)
    auto = t.teacher_temperature == "auto"
    cfg = with_teacher_temperature(cfg, auto, encoder, data.train, data.texts, data.frozen)
    try:
        state = train(encoder, data.train, data.dev, data.texts, cfg, checkpoint_dir, world=world, frozen=data.frozen)
    except FloatingPointError as e:
        raise click.ClickException(str(e)) from e
    encoder.config = enc
    if not world.is_main:
        distributed.shutdown(world)
        return
    summary = summarise(cfg, state, counts(data.train, data.dev, data.stats), enc.device, world.size,
                        query_mix=p.query_mix, list_length=t.list_length, temperature_auto=auto)  # fmt: skip
    save_run(encoder, cfg, state, summary, enc.model, out, metrics, curve, dev_curve)
    Checkpoints(checkpoint_dir).clear()
    distributed.shutdown(world)


if __name__ == "__main__":
    stage_main(main)
