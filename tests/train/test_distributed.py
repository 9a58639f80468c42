"""Data-parallel training: 2 gloo processes under torchrun take the same steps as one process on the same global
batch (losses and the updated weights), and the collectives are identities in a world of one."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import write_params
from safetensors.torch import load_file
from test_stage_train import BASE, DOCS, scored_record
from tiny_bert import make_tiny_bert

from listdistill.distributed import SINGLE, World
from listdistill.records import write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def test_parts_cover_every_item_once():
    for n in (0, 1, 2, 5, 7, 16):
        for size in (1, 2, 3, 4):
            world = World(size=size)
            covered = [i for r in range(size) for i in range(n)[world.part(n, r)]]
            assert covered == list(range(n))


def test_single_process_collectives_are_identities():
    x = torch.randn(3, 4)
    assert SINGLE.gather_rows(x, 3) is x
    model = torch.nn.Linear(2, 2)
    model(torch.ones(1, 2)).sum().backward()
    before = model.weight.grad.clone()
    SINGLE.sum_gradients(model)
    assert torch.equal(model.weight.grad, before)


def train_args(root: Path, out: str) -> list[str]:
    return [
        "--params", str(root / "params.yaml"), "--scored", str(root / "scored"), "--corpus", str(root / "corpus.jsonl"),
        "--checkpoint-dir", str(root / f"{out}.ckpt"), "--out", str(root / out),
        "--metrics", str(root / f"{out}.json"), "--curve", str(root / f"{out}_curve.tsv"),
        "--dev-curve", str(root / f"{out}_dev.tsv"),
    ]  # fmt: skip


def run(cmd: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "GLOO_SOCKET_IFNAME": "lo"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def column(path: Path, name: str) -> list[float]:
    with path.open() as f:
        return [float(r[name]) for r in csv.DictReader(f, delimiter="\t")]


def test_two_gloo_processes_equal_one(tmp_path: Path):
    make_tiny_bert(tmp_path / "tiny", pooling="mean")
    write_jsonl(tmp_path / "corpus.jsonl", [{"doc_id": str(i), "title": "", "text": t} for i, t in enumerate(DOCS)])
    for qtype, n in (("questions", 6), ("claims", 5)):  # 11 queries: batches of 4, 4, 3 (odd shares)
        write_jsonl(tmp_path / "scored" / qtype / "train.jsonl", [scored_record(qtype, i) for i in range(n)])
        write_jsonl(tmp_path / "scored" / qtype / "dev.jsonl", [scored_record(qtype, i) for i in range(n, n + 3)])
    own = {"query_mix": ["questions", "claims"], "loss": "listwise+infonce", "seed": 3, "train.chunk_size": 2,
           "train.lr": 1e-3, "device": "cpu",
           "train.bf16": False, "student.dtype": "float32"}  # fmt: skip  # exact comparison: float32 on AMX CPUs too
    write_params(tmp_path, {**BASE, "student.model": str(tmp_path / "tiny"), **own})
    run([sys.executable, "-m", "stages.train", *train_args(tmp_path, "one")])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    run([*torchrun, "-m", "stages.train", *train_args(tmp_path, "two")])

    assert column(tmp_path / "one_curve.tsv", "loss") == pytest.approx(
        column(tmp_path / "two_curve.tsv", "loss"), abs=1e-5
    )
    assert len(column(tmp_path / "one_curve.tsv", "loss")) == 3
    assert column(tmp_path / "one_curve.tsv", "grad_norm") == pytest.approx(
        column(tmp_path / "two_curve.tsv", "grad_norm"), rel=1e-4
    )
    assert column(tmp_path / "one_dev.tsv", "dev_loss") == pytest.approx(
        column(tmp_path / "two_dev.tsv", "dev_loss"), abs=1e-5
    )
    start = load_file(tmp_path / "tiny" / "model.safetensors")
    one, two = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    moved = max(float((one[k] - start[k]).abs().max()) for k in one)
    assert moved > 1e-4  # the steps changed the weights ...
    for k in one:  # ... and identically
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-6)
