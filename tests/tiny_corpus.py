"""A tiny prepare-style corpus (eight passages, one judged, one duplicate) shared by the mine and shard tests."""

from __future__ import annotations

import json
from pathlib import Path

CORPUS = [
    ("1", "supersonic nozzle", "shock waves form in a supersonic nozzle when the back pressure rises"),
    ("2", "plant biology", "photosynthesis converts sunlight into chemical energy in leaves"),
    ("3", "monetary policy", "the central bank raised interest rates to curb inflation"),
    ("4", "boundary layers", "laminar boundary layer heat transfer on a flat plate at high mach number"),
    ("5", "shell buckling", "buckling of thin cylindrical shells under axial compression"),
    ("6", "nozzle flow", "flow separation in an overexpanded rocket nozzle with shock waves"),
    ("7", "copy of 6", "flow separation in an overexpanded rocket nozzle with shock waves"),
    ("8", "wing lift", "lift and drag of a swept wing at transonic speed"),
]


def write_prepared(prepared: Path, corpus: list[tuple[str, str, str]]) -> Path:
    """A prepare-style folder: corpus, qrels (doc 6 judged relevant to a test query), duplicates (7 copies 6)."""
    prepared.mkdir(parents=True)
    with (prepared / "corpus.jsonl").open("w") as f:
        for doc_id, title, text in corpus:
            f.write(json.dumps({"doc_id": doc_id, "title": title, "text": text}) + "\n")
    (prepared / "qrels.txt").write_text("t1 0 6 1\nt1 0 3 0\n")
    (prepared / "duplicates.jsonl").write_text(json.dumps({"doc_id": "7", "duplicate_of": "6", "reason": "exact"}))
    return prepared


def prepared_with_index(root: Path) -> tuple[Path, Path]:
    """:func:`write_prepared` of :data:`CORPUS` under ``root`` and the index stage's outputs for it (the default
    params): the prepared folder and the index folder."""
    from click.testing import CliRunner
    from conftest import write_params

    from stages import index

    prepared = write_prepared(root / "prepared", CORPUS)
    argv = [
        "--params",
        str(write_params(root)),
        "--corpus",
        str(prepared / "corpus.jsonl"),
        "--out",
        str(root / "index"),
    ]
    r = CliRunner().invoke(index.main, argv)
    assert r.exit_code == 0, r.output
    return prepared, root / "index"
