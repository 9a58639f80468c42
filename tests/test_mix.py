"""listdistill.mix: the training mix is exactly the scored lists of the types in query_mix, byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from listdistill.io import FormatError
from listdistill.mix import copy_mix
from listdistill.records import ScoredCandidate, ScoredQuery, write_scored


def scored(folder: Path, qtype: str, n: int) -> None:
    """``n`` training lists and one dev list of ``qtype`` under ``folder/qtype``."""
    (folder / qtype).mkdir(parents=True)
    cands = (ScoredCandidate("d1", 1.0, 3.5), ScoredCandidate("d2", 0.25, 1.25))
    rows = [ScoredQuery(f"{qtype}-{i}", f"query {i}", qtype, "d1", cands) for i in range(n + 1)]
    write_scored(folder / qtype / "train.jsonl", rows[:n])
    write_scored(folder / qtype / "dev.jsonl", rows[n:])


def test_copy_mix_copies_exactly_the_mixed_types(tmp_path: Path):
    src = tmp_path / "scored"
    scored(src, "questions", 3)
    scored(src, "titles", 2)
    scored(src, "claims", 1)  # generated but not in the mix
    counts = copy_mix(src, ["titles", "questions"], tmp_path / "mix")
    assert counts == {"titles": 2, "questions": 3}
    assert sorted(p.name for p in (tmp_path / "mix").iterdir()) == ["questions", "titles"]
    for t in ("questions", "titles"):
        for split in ("train.jsonl", "dev.jsonl"):
            assert (tmp_path / "mix" / t / split).read_bytes() == (src / t / split).read_bytes()
    assert (src / "titles" / "train.jsonl").read_text().splitlines()[0] == (
        '{"query_id": "titles-0", "text": "query 0", "query_type": "titles", "source_doc_id": "d1", "candidates": '
        '[{"doc_id": "d1", "teacher_score": 1.0, "raw_score": 3.5}, '
        '{"doc_id": "d2", "teacher_score": 0.25, "raw_score": 1.25}]}'
    )


def test_copy_mix_names_a_missing_type_and_writes_nothing(tmp_path: Path):
    scored(tmp_path / "scored", "questions", 1)
    with pytest.raises(FileNotFoundError, match=r"scored/search/train\.jsonl"):
        copy_mix(tmp_path / "scored", ["questions", "search"], tmp_path / "mix")
    assert not (tmp_path / "mix").exists()


def test_copy_mix_refuses_a_folder_holding_another_type(tmp_path: Path):
    scored(tmp_path / "scored", "questions", 1)
    (tmp_path / "scored" / "questions").rename(tmp_path / "scored" / "titles")
    with pytest.raises(FormatError, match=r"titles/train\.jsonl:1: expected 'query_type' 'titles'"):
        copy_mix(tmp_path / "scored", ["titles"], tmp_path / "mix")
    assert not (tmp_path / "mix").exists()
