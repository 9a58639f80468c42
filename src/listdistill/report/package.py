"""What the report stage writes: the student folder (``train``'s, copied) with its model card (``README.md``,
:mod:`listdistill.report.card`) and the pictures under ``plots/`` (:mod:`listdistill.evaluate.plots`)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from listdistill.evaluate.plots import draw_curves, draw_difference, draw_systems, read_rows
from listdistill.io import read_json
from listdistill.report.card import CardInputs, model_card, versions


def write_report(folder: Path, student_dir: Path, evaluation: dict[str, Any], training: dict[str, Any], *,
                 plots_dir: Path, curve: Path, dev_curve: Path, prepare_stats: Path, train_stats: Path, corpus: str,
                 base_model: str, query_max_length: int, passage_max_length: int, teacher: str,
                 generator: str) -> list[str]:  # fmt: skip
    """Copy ``student_dir`` to the new folder ``folder``, draw its pictures and write its model card from
    ``evaluation`` (metrics/eval.json), ``training`` (the student's training.json) and the stats files; returns the
    pictures' names."""
    shutil.copytree(student_dir, folder)
    pictures = draw(folder / "plots", plots_dir, curve, dev_curve, evaluation.get("evaluation", {}).get("kind", ""))
    inputs = CardInputs(
        corpus=corpus,
        base_model=base_model,
        dim=dim_of(student_dir),
        query_max_length=query_max_length,
        passage_max_length=passage_max_length,
        prepare=read_json(prepare_stats),
        train=read_json(train_stats),
        config=training.get("config", {}),
        evaluation=evaluation,
        teacher=teacher,
        generator=generator,
        pictures=pictures,
        versions=versions(),
    )
    (folder / "README.md").write_text(model_card(inputs), encoding="utf-8")
    return pictures


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


def teacher_name(kind: str, model: str, ensemble: str, normalise: str) -> str:
    """The teacher as the card names it."""
    return f"`{kind}` ({ensemble}; {normalise})" if kind == "ensemble" else f"`{kind}` `{model}`"


def dim_of(student_dir: Path) -> int:
    """The output dimension from the sentence-transformers pooling config (first tower when two)."""
    for config in sorted(student_dir.rglob("1_Pooling/config.json")) + sorted(
        student_dir.rglob("*Pooling/config.json")
    ):
        pooling = read_json(config)  # sentence-transformers 5+ says embedding_dimension, older ones word_...
        return int(pooling.get("embedding_dimension", pooling.get("word_embedding_dimension", 0)))
    return 0
