"""The trained student as a folder that ``transformers``, ``sentence-transformers`` and :class:`Encoder` load."""

from __future__ import annotations

import copy
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from listdistill.atomic import stage_outputs
from listdistill.encoder import Encoder
from listdistill.io import write_json, write_tsv
from listdistill.train.config import TrainConfig, TrainState
from listdistill.train.summary import training_record


def sentence_transformers_files(encoder: Encoder) -> dict[str, Any]:
    """The sentence-transformers configuration of the student (the classic layout, which every version since 2.x
    reads): Transformer -> Pooling (the encoder's pooling) -> Normalize when the encoder normalises."""
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    if encoder.config.normalize:
        modules.append({"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"})
    pooling = {
        "word_embedding_dimension": encoder.dim,
        "pooling_mode_cls_token": encoder.pooling == "cls",
        "pooling_mode_mean_tokens": encoder.pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }
    st_config = {
        "prompts": {"query": encoder.prefix(True), "document": encoder.prefix(False)},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine" if encoder.config.normalize else "dot",
    }
    return {
        "modules.json": modules,
        "1_Pooling/config.json": pooling,
        "sentence_bert_config.json": {"max_seq_length": encoder.config.passage_max_length, "do_lower_case": False},
        "config_sentence_transformers.json": st_config,
    }


def clean_tokenizer(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` without the truncation and padding state its last call left in the fast backend
    (which ``save_pretrained`` writes into tokenizer.json): the saved files then do not depend on whether the last
    text encoded was a query (64 tokens) or a passage (128), so a resumed run saves the same bytes."""
    clean = copy.deepcopy(tokenizer)
    backend = getattr(clean, "backend_tokenizer", None)
    if backend is not None:
        backend.no_truncation()
        backend.no_padding()
    return clean


def save_student(encoder: Encoder, out: Path, training: Mapping[str, Any], passage_model: str | None = None) -> None:
    """Write the student atomically; ``training`` goes to training.json.

    One tower (``passage_model`` None): an ordinary Hugging Face model folder that ``SentenceTransformer(out)`` and
    an :class:`Encoder` of ``out`` load with the same pooling. Two towers (query-tower training;
    ``passage_model`` the folder of the untouched passage encoder): a sentence-transformers ``Router`` whose
    ``encode_query`` runs the fine-tuned encoder and ``encode_document`` the passage encoder; :class:`Encoder`
    loads it the same way (see :func:`listdistill.encoder.router_towers`)."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    if passage_model is None:
        encoder.model.save_pretrained(tmp)
        clean_tokenizer(encoder.tokenizer).save_pretrained(tmp)
        for name, obj in sentence_transformers_files(encoder).items():
            write_json(tmp / name, obj)
        if encoder.config.normalize:
            (tmp / "2_Normalize").mkdir()
    else:
        _save_router(encoder, passage_model, tmp)
    write_json(tmp / "training.json", training)
    shutil.rmtree(out, ignore_errors=True)
    tmp.replace(out)


def _save_router(encoder: Encoder, passage_model: str, folder: Path) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Router, Transformer

    query_dir = folder.with_name(folder.name + ".query")
    shutil.rmtree(query_dir, ignore_errors=True)
    encoder.model.save_pretrained(query_dir)
    clean_tokenizer(encoder.tokenizer).save_pretrained(query_dir)
    cfg = encoder.config

    def tower(path: str, max_length: int) -> list[Any]:
        modules: list[Any] = [Transformer(path, max_seq_length=max_length), Pooling(encoder.dim, encoder.pooling)]
        return modules + ([Normalize()] if cfg.normalize else [])

    router = Router.for_query_document(
        tower(str(query_dir), cfg.query_max_length), tower(passage_model, cfg.passage_max_length)
    )
    st = SentenceTransformer(
        modules=[router],
        device="cpu",
        prompts={"query": encoder.prefix(True), "document": encoder.prefix(False)},
        similarity_fn_name="cosine" if cfg.normalize else "dot",
    )
    st.save(str(folder))
    shutil.rmtree(query_dir, ignore_errors=True)


def save_run(encoder: Encoder, cfg: TrainConfig, state: TrainState, summary: dict[str, Any], model: str, out: Path,
             metrics: Path, curve: Path, dev_curve: Path) -> None:  # fmt: skip
    """The train stage's outputs, all or none (:func:`~listdistill.atomic.stage_outputs`): the student folder
    (``model``'s passage encoder beside it for the query tower), ``summary`` as the metrics, and the per-step and
    per-evaluation curves."""
    training, passage_dir = training_record(cfg, state, summary, model)
    with stage_outputs(out, metrics, curve, dev_curve) as (tmp_out, tmp_metrics, tmp_curve, tmp_dev):
        save_student(encoder, tmp_out, training, passage_model=passage_dir)
        write_json(tmp_metrics, summary)
        write_tsv(tmp_curve, state.curve)
        write_tsv(tmp_dev, state.dev)
