"""bench/cost_curve.py: per-stage costs against corpus size, the least-squares lines and what they project."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bench.cost_curve import main


def project(root, passages: int, costs: dict[str, tuple[float, float]]):
    """A finished project's cost records (``stage`` or ``stage/type``: CPU s, peak RSS MB) and its corpus."""
    (root / "data" / "prepared").mkdir(parents=True)
    (root / "data" / "prepared" / "corpus.jsonl").write_text("".join(f'{{"_id": "d{i}"}}\n' for i in range(passages)))
    for name, (cpu, rss) in costs.items():
        path = root / "metrics" / "cost" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cpu_s": cpu, "wall_s": cpu, "peak_rss_mb": rss, "threads": 1}))
    return root


def test_lines_per_stage_sum_types_and_project(tmp_path):
    small = project(tmp_path / "a", 10, {"index": (20.0, 1024), "mine/questions": (5.0, 512),
                                         "mine/titles": (5.0, 2048)})  # fmt: skip
    large = project(tmp_path / "b", 30, {"index": (60.0, 3072), "mine/questions": (5.0, 512),
                                         "mine/titles": (5.0, 2048)})  # fmt: skip
    r = CliRunner().invoke(main, ["--run", f"30={large}", "--run", f"10={small}", "--extrapolate", "100",
                                  "--out", str(tmp_path / "curve.md")])  # fmt: skip
    assert r.exit_code == 0, r.output
    md = (tmp_path / "curve.md").read_text()
    # index: 20 s at 10 passages, 60 s at 30 -> 2 s per passage, 2,000 per 1k; 200 s at 100; RSS 0.1 GB a passage
    assert "| index | 20 s / 1.0 GB | 60 s / 3.0 GB | 2000.00 | 3.3 min | 100000.00 |" in md
    # mine: the two types summed (10 s), the larger RSS (2 GB), flat in size
    assert "| mine | 10 s / 2.0 GB | 10 s / 2.0 GB | 0.00 | 10 s | 0.00 |" in md
    assert "| **total** | 0.5 CPU-min | 1.2 CPU-min | | **3.5 min** | |" in md
    assert "- 100 passages: 10.0 GB in `index`" in md


def test_a_size_that_does_not_match_the_corpus_is_refused(tmp_path):
    p = project(tmp_path / "a", 10, {"index": (1.0, 10)})
    r = CliRunner().invoke(main, ["--run", f"11={p}", "--out", str(tmp_path / "c.md")])
    assert r.exit_code != 0
    assert "corpus.jsonl holds 10 passages" in r.output
