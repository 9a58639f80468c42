"""Sharding: parsing and slicing, and every heavy stage (index, generate, mine, score) run whole and as 3 shards
+ a merge on a tiny collection, giving the same outputs (byte for byte; index: the embeddings up to rounding)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_params
from tiny_corpus import CORPUS as MINE_CORPUS
from tiny_corpus import write_prepared

from listdistill.shard import Shard, ShardError, parse_shard, read_manifests, shard_dir, units
from stages import generate, index, mine, score

N = 3
CORPUS = [
    *MINE_CORPUS,
    ("9", "wing flutter", "flutter speed of swept wings falls as the sweep angle increases"),
    ("10", "rotating disk", "heat transfer from a rotating disk grows with the square root of its speed"),
]
GENERATED = [
    ("g1", "why do shock waves form in a supersonic nozzle", "1"),
    ("g2", "interest rates and inflation", "3"),
    ("g3", "photosynthesis in leaves", "4"),  # does not retrieve its source
    ("g4", "buckling of cylindrical shells", "5"),
    ("g5", "lift and drag of swept wings", "8"),
    ("g6", "flutter of swept wings", "9"),
    ("g7", "heat transfer rotating disk", "10"),
]


def invoke(main, args: list[str]) -> str:
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    return r.output


def sharded(main, args: list[str]) -> None:
    """Run the N shards (as separate invocations, as a scheduler would), then the merge."""
    for i in range(N):
        invoke(main, [*args, "--shard", f"{i}/{N}"])
    invoke(main, [*args, "--merge", N])


def same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


# shards ----------------------------------------------------------------------------------------------------------
def test_parse_shard_and_its_errors():
    assert parse_shard("1/3") == Shard(1, 3) and parse_shard(" 0 / 1 ") == Shard() and str(Shard(2, 5)) == "2/5"
    for bad in ["3/3", "1/0", "-1/3", "a/b", "1", "", "1/3/4"]:
        with pytest.raises(ValueError, match=rf"shard '{bad}': expected 'i/N' with integers 0 <= i < N"):
            parse_shard(bad)
    with pytest.raises(ValueError, match="0 <= i < N"):
        Shard(3, 3)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 10, 101])
@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 11])
def test_slices_cover_every_unit_once_in_order_and_balanced(n, count):
    slices = [Shard(i, count).slice(n) for i in range(count)]
    assert [u for s in slices for u in s] == list(range(n))
    assert max(len(s) for s in slices) - min(len(s) for s in slices) <= 1
    items = [f"unit{u}" for u in range(n)]
    assert [x for i in range(count) for x in Shard(i, count).take(items)] == items


def test_units_and_part_folders():
    assert units(5, 2) == [range(0, 2), range(2, 4), range(4, 5)]
    assert units(0, 2) == [] and units(3, 0) == [range(3)] and units(3, 8) == [range(3)]
    assert shard_dir("data/mined/questions", Shard(1, 3)) == Path("data/mined/questions.shards/1-of-3")
    assert shard_dir("data/generated/claims.jsonl", Shard(0, 2)).name == "0-of-2"


def test_merge_names_the_missing_parts(tmp_path):
    with pytest.raises(ShardError, match=r"2 of 2 shard part\(s\) of .*out missing .*0-of-2/shard.json, .*1-of-2"):
        read_manifests(tmp_path / "out", 2, "key")
    with pytest.raises(ShardError, match="N >= 2"):
        read_manifests(tmp_path / "out", 1, "key")


def test_shard_options_errors(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"doc_id": "1", "text": "a"}) + "\n")
    base = ["--params", str(write_params(tmp_path)), "--corpus", str(corpus), "--out", str(tmp_path / "index")]
    r = CliRunner().invoke(index.main, [*base, "--shard", "3/3"])
    assert r.exit_code == 2 and "shard '3/3': expected 'i/N' with integers 0 <= i < N" in r.output
    r = CliRunner().invoke(index.main, [*base, "--shard", "1/3", "--merge", "3"])
    assert r.exit_code == 2 and "exclude each other" in r.output
    r = CliRunner().invoke(index.main, [*base, "--merge", "3"])
    assert r.exit_code == 1 and "3 of 3 shard part(s)" in r.output and "0-of-3" in r.output


# the stages ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A prepare-style folder and the index stage's outputs, whole and merged from N shards."""
    root = tmp_path_factory.mktemp("tiny")
    prepared = write_prepared(root / "prepared", CORPUS)
    # float32: bfloat16 (student.dtype auto on AMX CPUs) rounds differently when the shards batch other passages
    params = write_params(root, {"student.batch_size": 4, "student.dtype": "float32"})
    args = ["--params", params, "--corpus", prepared / "corpus.jsonl"]
    invoke(index.main, [*args, "--out", root / "index"])
    sharded(index.main, [*args, "--out", root / "index-merged"])
    return prepared, root / "index", root / "index-merged"


def test_index_shards_merge_into_the_whole_index(tiny):
    _, whole, merged = tiny
    same_files(whole, merged, ["corpus_emb.json"])
    np.testing.assert_allclose(np.load(merged / "corpus_emb.npy"), np.load(whole / "corpus_emb.npy"), atol=1e-5)
    assert sorted(p.name for p in (merged / "lucene").iterdir()) == sorted(p.name for p in (whole / "lucene").iterdir())
    assert sorted(p.name for p in (merged.parent / "index-merged.shards").iterdir()) == ["0-of-3", "1-of-3", "2-of-3"]


@pytest.fixture(scope="module")
def mined(tiny, tmp_path_factory):
    """mine's outputs on GENERATED, whole and merged, and its arguments (without --out/--stats)."""
    prepared, index_dir, _ = tiny
    root = tmp_path_factory.mktemp("mine")
    queries = root / "questions.jsonl"
    queries.write_text(
        "".join(
            json.dumps({"query_id": q, "text": t, "query_type": "questions", "source_doc_id": s}) + "\n"
            for q, t, s in GENERATED
        )
    )
    params = write_params(root, {"mine.k": 6, "mine.round_trip_depth": 3})
    args = ["--params", params, "--queries", queries, "--prepared", prepared, "--index", index_dir,
            "--queries-per-unit", 2]  # fmt: skip
    invoke(mine.main, [*args, "--out", root / "whole", "--stats", root / "whole.json"])
    sharded(mine.main, [*args, "--out", root / "merged", "--stats", root / "merged.json"])
    return root, args


def test_mine_shards_merge_into_the_whole_run(mined):
    root, _ = mined
    same_files(root / "whole", root / "merged", ["candidates.jsonl", "run.trec"])
    assert (root / "whole.json").read_bytes() == (root / "merged.json").read_bytes()
    stats = json.loads((root / "merged.json").read_text())
    assert stats["queries_in"] == 7 and 0 < stats["kept"] < 7  # some queries dropped, some kept


def test_mine_merge_refuses_missing_or_foreign_parts(mined):
    root, args = mined
    out = ["--out", root / "merged", "--stats", root / "other.json"]
    r = CliRunner().invoke(mine.main, [str(a) for a in [*args, "--set", "mine.k=5", *out, "--merge", N]])
    assert r.exit_code == 1 and "made with other settings or inputs" in r.output
    manifest = shard_dir(root / "merged", Shard(1, N)) / "shard.json"
    manifest.rename(manifest.with_suffix(".bak"))
    try:
        r = CliRunner().invoke(mine.main, [str(a) for a in [*args, *out, "--merge", N]])
        assert r.exit_code == 1 and "1 of 3 shard part(s)" in r.output and "1-of-3/shard.json" in r.output
    finally:
        manifest.with_suffix(".bak").rename(manifest)
    assert not (root / "other.json").exists()


def test_score_shards_merge_into_the_whole_run(tiny, mined, tmp_path):
    prepared, index_dir, _ = tiny
    root, _ = mined
    # train.list_length <= score.depth is checked in every stage: the lists train reads are score's
    sets = {"score.depth": 4, "score.consistency": False, "score.dev_fraction": 0.3, "train.list_length": 4}
    args = ["--params", write_params(tmp_path, sets), "--candidates", root / "whole" / "candidates.jsonl",
            "--corpus", prepared / "corpus.jsonl", "--index", index_dir, "--queries-per-unit", 1]  # fmt: skip
    invoke(score.main, [*args, "--out", tmp_path / "whole", "--stats", tmp_path / "whole.json"])
    sharded(score.main, [*args, "--out", tmp_path / "merged", "--stats", tmp_path / "merged.json"])
    same_files(tmp_path / "whole", tmp_path / "merged", ["train.jsonl", "dev.jsonl"])
    assert (tmp_path / "whole.json").read_bytes() == (tmp_path / "merged.json").read_bytes()
    stats = json.loads((tmp_path / "merged.json").read_text())
    assert stats["kept"] > 0 and stats["pairs_scored"] == 4 * stats["queries_in"]


def test_generate_shards_merge_into_the_whole_run(tmp_path, single_thread):
    pool = tmp_path / "pool.jsonl"
    pool.write_text("".join(json.dumps({"doc_id": d, "title": t, "text": x}) + "\n" for d, t, x in CORPUS))
    # 5 sampled passages in batches of 2: 3 batches, one per shard; sampled (temperature 0.7), so seeds matter
    sets = {"generate.backend": "transformers", "generate.passages_per_type": 5, "generate.batch_size": 2,
            "generate.max_new_tokens": 6, "generate.num_examples": 1, "generate.passage_max_tokens": 48,
            "generate.samples_per_passage": 1}  # fmt: skip
    args = ["--params", write_params(tmp_path, sets), "--query-type", "questions", "--pool", pool,
            "--checkpoint-dir", tmp_path / "ckpt"]  # fmt: skip
    outs = {name: ["--out", tmp_path / name, "--stats", tmp_path / name / "stats", "--samples",
                   tmp_path / name / "samples"] for name in ("whole", "merged")}  # fmt: skip
    invoke(generate.main, [*args, *outs["whole"]])
    sharded(generate.main, [*args, *outs["merged"]])
    files = ["questions.jsonl", "stats/questions.json", "dropped/questions.jsonl", "samples/questions.tsv"]
    same_files(tmp_path / "whole", tmp_path / "merged", files)
    assert json.loads((tmp_path / "merged" / "stats" / "questions.json").read_text())["generated"] == 5
    shards = tmp_path / "merged" / "questions.jsonl.shards"
    parts = [json.loads(line) for line in (shards / "1-of-3" / "completions.jsonl").read_text().splitlines()]
    assert len(parts) == 2  # the middle batch
    # every shard removed its own checkpoint; the whole run keeps its batches (the stage's cache)
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["questions.jsonl"]
