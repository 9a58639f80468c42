"""report: what the user gets. ``models/student``: the fine-tuned student (``train``'s folder, copied) with its
model card (``README.md``, :mod:`listdistill.report.card`) and the pictures under ``plots/`` (per-system means with
bootstrap intervals, the per-query difference student - zero-shot, the learning curves;
:mod:`listdistill.evaluate.plots`).

Reads ``dataset.name``, ``generate.model``, ``student.model``, its maximum lengths and ``teacher`` (named in the
card); everything else comes from the
records the pipeline wrote."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from listdistill.atomic import stage_outputs
from listdistill.config import Params
from listdistill.errors import friendly
from listdistill.evaluate.plots import draw_curves, draw_difference, draw_systems, read_rows
from listdistill.io import read_json
from listdistill.report.card import CardInputs, model_card, versions
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
    with stage_outputs(out) as (tmp,):
        shutil.copytree(student_dir, tmp)
        pictures = draw(tmp / "plots", plots_dir, curve, dev_curve, evaluation.get("evaluation", {}).get("kind", ""))
        inputs = CardInputs(
            corpus=p.dataset.name,
            base_model=p.student.model,
            dim=dim_of(student_dir),
            query_max_length=p.student.query_max_length,
            passage_max_length=p.student.passage_max_length,
            prepare=read_json(prepare_stats),
            train=read_json(train_stats),
            config=training.get("config", {}),
            evaluation=evaluation,
            teacher=teacher_name(p),
            generator=p.generate.model,
            pictures=pictures,
            versions=versions(),
        )
        (tmp / "README.md").write_text(model_card(inputs), encoding="utf-8")
    click.echo(f"report: {out} with its model card and {len(pictures)} pictures")


def draw(folder: Path, plots_dir: Path, curve: Path, dev_curve: Path, kind: str) -> list[str]:
    """The PNGs under ``folder``; returns their names."""
    folder.mkdir()
    title = {"label-free": "Label-free (agreement with the teacher)", "judgments": "Judged test queries"}.get(kind, "")
    systems, difference = read_rows(plots_dir / "systems.tsv"), read_rows(plots_dir / "difference.tsv")
    if systems:
        draw_systems(systems, title, folder / "systems.png")
    if difference:
        draw_difference(difference, title, folder / "difference.png")
    draw_curves(read_rows(curve), read_rows(dev_curve), folder / "learning_curves.png")
    return sorted(p.name for p in folder.glob("*.png"))


def teacher_name(p: Params) -> str:
    t = p.teacher
    return f"`{t.kind}` ({t.ensemble}; {t.normalise})" if t.kind == "ensemble" else f"`{t.kind}` `{t.model}`"


def dim_of(student_dir: Path) -> int:
    """The output dimension from the sentence-transformers pooling config (first tower when two)."""
    for config in sorted(student_dir.rglob("1_Pooling/config.json")) + sorted(
        student_dir.rglob("*Pooling/config.json")
    ):
        pooling = read_json(config)  # sentence-transformers 5+ says embedding_dimension, older ones word_...
        return int(pooling.get("embedding_dimension", pooling.get("word_embedding_dimension", 0)))
    return 0


if __name__ == "__main__":
    stage_main(main)
