"""Loading a corrupt, truncated or wrong-kind model names the folder and says what is wrong."""

from __future__ import annotations

import json
import shutil

import pytest
from factories import encoder_config
from tiny_bert import make_tiny_bert

from listdistill.encoder import Encoder
from listdistill.errors import user_message
from listdistill.models import ModelLoadError, check_model_folder, load_checked


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture()
def copy(tiny, tmp_path):
    return shutil.copytree(tiny, tmp_path / "model")


def test_intact_folder_loads(tiny, single_thread):
    assert Encoder(encoder_config(model=str(tiny))).dim == 32
    check_model_folder(tiny, "AutoModel")


@pytest.mark.parametrize("keep", [0, 5, 100, 0.5])
def test_truncated_safetensors(copy, keep, single_thread):
    weights = copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(ModelLoadError, match=r"model/model\.safetensors: model\.safetensors is truncated or corrupt"):
        Encoder(encoder_config(model=str(copy)))


def test_overwritten_safetensors_header(copy):
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:20] = b"\xff" * 12
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"truncated or corrupt \(unreadable header"):
        check_model_folder(copy)


def test_not_a_model_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ModelLoadError) as info:
        Encoder(encoder_config(model=str(tmp_path)))
    assert user_message(info.value).startswith(f"{tmp_path}: not a Hugging Face model folder (no config.json")
    with pytest.raises(ModelLoadError, match=r"not a Hugging Face model folder \(no config\.json\)$"):
        check_model_folder(tmp_path)


def test_bert_where_a_causal_lm_is_expected(tiny):
    from transformers import AutoModelForCausalLM

    with pytest.raises(ModelLoadError, match=r"bert: expected a causal language model .* config\.json says BertModel"):
        load_checked(AutoModelForCausalLM, tiny)


def test_query_likelihood_teacher_given_a_bert_folder(tiny):
    from listdistill.teachers.query_likelihood import QLConfig, QueryLikelihoodTeacher

    with pytest.raises(ModelLoadError, match="expected a causal language model"):
        QueryLikelihoodTeacher(QLConfig(model=str(tiny), device="cpu"))


def test_corrupt_config_and_unloadable_model(copy):
    (copy / "config.json").write_text("{")
    with pytest.raises(ModelLoadError, match=r"config\.json is not valid JSON"):
        check_model_folder(copy)
    (copy / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    from transformers import AutoModel

    with pytest.raises(ModelLoadError, match=r"model: cannot be loaded with AutoModel \(ValueError: "):
        load_checked(AutoModel, copy)


def test_truncated_pytorch_bin_and_missing_shard(copy):
    (copy / "pytorch_model.bin").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(ModelLoadError, match=r"pytorch_model\.bin is truncated or corrupt"):
        check_model_folder(copy)
    (copy / "pytorch_model.bin").unlink()
    (copy / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": "model-00002.safetensors"}}))
    with pytest.raises(ModelLoadError, match=r"weights shard model-00002\.safetensors named in the index is missing"):
        check_model_folder(copy)
