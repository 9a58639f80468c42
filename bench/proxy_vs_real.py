"""The label-free evaluation against real judgments, side by side (issue 19's validation).

Each run is a pipeline run with ``dataset.judgments: hide`` on a judged collection: its ``metrics/eval.json``
holds the label-free evaluation (the main block) and the hidden judgments (``hidden_judgments``), both of the same
student. For every run this script puts the proxy's difference (student - zero-shot, nDCG@10 against the
teacher's labels) next to the real one (nDCG@10 against the judgments), then reports how often their signs agree
and their rank correlation (Spearman) over all runs and per collection:

    python bench/proxy_vs_real.py --run cranfield/default=runs/cran-default/metrics/eval.json \\
        --run cranfield/t0.3=runs/cran-t03/metrics/eval.json ... --out bench/results/proxy_vs_real

writes ``<out>.md`` (the table for the README) and ``<out>.json``. A difference counts as a sign only when it is
not 0; a run where either is 0 counts as a disagreement unless both are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from scipy.stats import spearmanr

MEASURE = "nDCG@10"


@dataclass(frozen=True)
class Row:
    collection: str
    setting: str
    proxy: float  # student - zero-shot on the label-free evaluation
    proxy_p: float | None
    real: float  # student - zero-shot on the hidden judgments
    real_p: float | None

    @property
    def agree(self) -> bool:
        return (self.proxy > 0) == (self.real > 0) and (self.proxy < 0) == (self.real < 0)


def difference(block: Mapping[str, Any], measure: str = MEASURE) -> tuple[float, float | None]:
    """(student - zero-shot, its paired p) of one evaluation block."""
    diff = round(block["student"][measure] - block["student_zero_shot"][measure], 4)
    return diff, block.get("student_vs_zero_shot_p", {}).get(measure)


def row(name: str, eval_json: Mapping[str, Any]) -> Row:
    collection, _, setting = name.partition("/")
    if eval_json.get("evaluation", {}).get("kind") != "label-free" or "hidden_judgments" not in eval_json:
        raise click.ClickException(f"{name}: not a run with dataset.judgments: hide (no label-free and hidden blocks)")
    proxy, proxy_p = difference(eval_json)
    real, real_p = difference(eval_json["hidden_judgments"])
    return Row(collection, setting or "default", proxy, proxy_p, real, real_p)


def summary(rows: Sequence[Row]) -> dict[str, Any]:
    """Sign agreement and Spearman's rank correlation of proxy and real differences."""
    out: dict[str, Any] = {"runs": len(rows), "signs_agree": sum(r.agree for r in rows)}
    if len(rows) >= 3:
        rho, p = spearmanr([r.proxy for r in rows], [r.real for r in rows])
        out["spearman"], out["spearman_p"] = round(float(rho), 4), round(float(p), 4)
    return out


def markdown(rows: Sequence[Row], overall: Mapping[str, Any], per: Mapping[str, Mapping[str, Any]]) -> str:
    def cell(d: float, p: float | None) -> str:
        return f"{d:+.4f}" + (f" (p {p})" if p is not None else "")

    lines = ["| collection | setting | proxy: student - zero-shot | real: student - zero-shot | signs agree |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r.collection} | {r.setting} | {cell(r.proxy, r.proxy_p)} | {cell(r.real, r.real_p)} | "
                     f"{'yes' if r.agree else 'no'} |")  # fmt: skip
    lines.append("")
    for name, s in [("all runs", overall), *per.items()]:
        rho = f", Spearman {s['spearman']} (p {s['spearman_p']})" if "spearman" in s else ""
        lines.append(f"- {name}: signs agree in {s['signs_agree']} of {s['runs']}{rho}")
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--run", "runs", multiple=True, required=True, metavar="COLLECTION/SETTING=EVAL_JSON")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Writes <out>.md and <out>.json.")
def main(runs: tuple[str, ...], out: Path) -> None:
    rows = []
    for item in runs:
        name, sep, path = item.partition("=")
        if not sep:
            raise click.UsageError(f"--run {item!r}: expected COLLECTION/SETTING=path/to/eval.json")
        rows.append(row(name, json.loads(Path(path).read_text(encoding="utf-8"))))
    per = {c: summary([r for r in rows if r.collection == c]) for c in dict.fromkeys(r.collection for r in rows)}
    overall = summary(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(markdown(rows, overall, per), encoding="utf-8")
    result = {"rows": [asdict(r) | {"agree": r.agree} for r in rows], "overall": overall, "per_collection": per}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    click.echo(out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
