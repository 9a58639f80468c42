from __future__ import annotations

import os
from pathlib import Path

import pytest

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
    from listdistill.encoder import Encoder, EncoderConfig

    return Encoder(EncoderConfig(batch_size=4))


@pytest.fixture()
def single_thread():
    """Torch on one thread for the test: small models gain nothing from more, and lose much on a busy machine."""
    from tiny_bert import one_thread

    with one_thread():
        yield
