"""bench/proxy_vs_real.py: the proxy's difference beside the real one, sign agreement and rank correlation."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bench.proxy_vs_real import main


def eval_json(proxy: tuple[float, float], real: tuple[float, float]) -> dict:
    def block(kind: str, student: float, zero: float) -> dict:
        return {"evaluation": {"kind": kind}, "student": {"nDCG@10": student}, "student_zero_shot": {"nDCG@10": zero},
                "student_vs_zero_shot_p": {"nDCG@10": 0.05}}  # fmt: skip

    return {**block("label-free", *proxy), "hidden_judgments": block("hidden judgments", *real)}


def test_table_sign_agreement_and_spearman(tmp_path):
    runs = {"cran/default": ((0.6, 0.5), (0.42, 0.40)), "cran/t0.3": ((0.4, 0.5), (0.35, 0.40)),
            "cran/infonce": ((0.55, 0.5), (0.39, 0.40)), "med/default": ((0.7, 0.5), (0.5, 0.45))}  # fmt: skip
    args = []
    for name, (proxy, real) in runs.items():
        path = tmp_path / f"{name.replace('/', '-')}.json"
        path.write_text(json.dumps(eval_json(proxy, real)))
        args += ["--run", f"{name}={path}"]
    r = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "pvr")])
    assert r.exit_code == 0, r.output
    md = (tmp_path / "pvr.md").read_text()
    assert "| cran | t0.3 | -0.1000 (p 0.05) | -0.0500 (p 0.05) | yes |" in md
    assert "| cran | infonce | +0.0500 (p 0.05) | -0.0100 (p 0.05) | no |" in md
    assert "- all runs: signs agree in 3 of 4, Spearman 1.0 (p 0.0)" in md  # the same order, one sign off
    assert "- med: signs agree in 1 of 1\n" in md
    assert json.loads((tmp_path / "pvr.json").read_text())["per_collection"]["cran"]["signs_agree"] == 2


def test_a_run_without_hidden_judgments_is_refused(tmp_path):
    path = tmp_path / "e.json"
    path.write_text(json.dumps({"evaluation": {"kind": "judgments"}}))
    r = CliRunner().invoke(main, ["--run", f"cran/default={path}", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "not a run with dataset.judgments: hide" in r.output
