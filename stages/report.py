"""report: what the user gets. ``models/student``: the fine-tuned student (``train``'s folder, copied) with its
model card (``README.md``, :mod:`listdistill.report.card`) and the pictures under ``plots/`` (per-system means with
bootstrap intervals, the per-query difference student - zero-shot, the learning curves;
:mod:`listdistill.evaluate.plots`).

Reads ``dataset.name``, ``generate.model``, ``student.model``, its maximum lengths and ``teacher`` (named in the
card); everything else comes from the
records the pipeline wrote."""

from __future__ import annotations

from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.errors import friendly
from listdistill.io import read_json
from listdistill.report.package import teacher_name, write_report
from stages.options import params_options, read_params, stage_main

FILE = click.Path(path_type=Path, exists=True, dir_okay=False)


@friendly
@click.command(context_settings={"show_default": True})
@params_options
@click.option("--student", "student_dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              required=True, help="train's model folder.")  # fmt: skip
@click.option("--prepare-stats", type=FILE, required=True, help="metrics/prepare.json")
@click.option("--train-stats", type=FILE, required=True, help="metrics/train.json")
@click.option("--eval", "eval_json", type=FILE, required=True, help="metrics/eval.json")
@click.option("--plots", "plots_dir", type=click.Path(path_type=Path, exists=True, file_okay=False), required=True,
              help="evaluate's plot data (systems.tsv, difference.tsv).")  # fmt: skip
@click.option("--curve", type=FILE, required=True, help="metrics/train_curve.tsv")
@click.option("--dev-curve", type=FILE, required=True, help="metrics/train_dev.tsv")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The model folder to write.")
def main(params_path: Path, overrides: tuple[str, ...], student_dir: Path, prepare_stats: Path, train_stats: Path,
         eval_json: Path, plots_dir: Path, curve: Path, dev_curve: Path, out: Path) -> None:  # fmt: skip
    p = read_params(params_path, overrides)
    evaluation = read_json(eval_json)
    training = read_json(student_dir / "training.json")
    s, t = p.student, p.teacher
    with stage_outputs(out) as (tmp,):
        pictures = write_report(tmp, student_dir, evaluation, training, plots_dir=plots_dir, curve=curve,
                                dev_curve=dev_curve, prepare_stats=prepare_stats, train_stats=train_stats,
                                corpus=p.dataset.name, base_model=s.model, query_max_length=s.query_max_length,
                                passage_max_length=s.passage_max_length, generator=p.generate.model,
                                teacher=teacher_name(t.kind, t.model, t.ensemble, t.normalise))  # fmt: skip
    click.echo(f"report: {out} with its model card and {len(pictures)} pictures")


if __name__ == "__main__":
    stage_main(main)
