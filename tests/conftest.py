from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import encoder_config

# A test run started in the background of a shell (`cmd &`, nohup) inherits SIGINT ignored, and so would every
# stage the tests start: the Ctrl-C tests (test_errors, test_faults) then see no interrupt. Give them the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = Path(os.environ.get("LISTDISTILL_DATA_MIRROR", ROOT.parent / "shared" / "datasets"))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    if not (SHARED_DATASETS / "cranfield" / "cran.all.1400").is_file():
        pytest.skip(f"raw collections not found under {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def minilm():
    """The packaged all-MiniLM-L6-v2 student, loaded once per session."""
    from listdistill.encoder import Encoder

    return Encoder(encoder_config(batch_size=4))


@pytest.fixture()
def single_thread():
    """Torch on one thread for the test: small models gain nothing from more, and lose much on a busy machine."""
    from tiny_bert import one_thread

    with one_thread():
        yield


# -- params files for stage tests ----------------------------------------------------------------------------------
def write_params(folder: Path, sets: dict[str, object] | None = None, name: str = "params.yaml") -> Path:
    """``folder/name``: the repo's params.yaml with dotted overrides, e.g. ``{"train.epochs": 1}``.

    ``device`` is ``cpu`` unless ``sets`` says otherwise: the stage tests run on the CPU, as the stages did by
    default before the params file (pass ``{"device": "auto"}`` to use a GPU when there is one)."""
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for key, value in {"device": "cpu", **(sets or {})}.items():
        *parents, leaf = key.split(".")
        node = params
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def set_args(sets: dict[str, object]) -> list[str]:
    """``--set key=value`` options (values written as JSON, which YAML reads back unchanged)."""
    import json

    return [arg for key, value in sets.items() for arg in ("--set", f"{key}={json.dumps(value)}")]


@pytest.fixture()
def params_file(tmp_path):
    """``params_file({"train.epochs": 1})``: :func:`write_params` into the test's tmp_path."""

    def make(sets: dict[str, object] | None = None, name: str = "params.yaml") -> Path:
        return write_params(tmp_path, sets, name)

    return make


# -- a real small disk (root only) ---------------------------------------------------------------------------------
@contextlib.contextmanager
def small_disk(path: Path, size: str = "256k") -> Iterator[Path]:
    """Mount a ``size`` tmpfs at ``path`` (created) for the block, or skip the test where mounting is not allowed
    (not root): the injected-ENOSPC tests stand in there."""
    from test_atomic import can_mount_tmpfs

    if not can_mount_tmpfs():
        pytest.skip("cannot mount a tmpfs here (not root); the injected-ENOSPC tests stand in")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)  # lazy: a handle a failed write left open
