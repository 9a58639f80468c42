"""Engines measured against PyTorch by bench/bench_encode.py (not used by the pipeline: none beat bf16 autocast):
the student's transformer exported once to ONNX and run by ONNX Runtime or OpenVINO.

* ``onnx``: the transformer exported with ``torch.onnx.export`` (eager attention, dynamic batch and length) and run
  by ONNX Runtime's CPU provider with all graph optimisations; float32 throughout, so embeddings equal PyTorch's to
  about 1e-5.
* ``onnx-int8``: the exported graph with ONNX Runtime's dynamic int8 quantisation of every MatMul's weights
  (``onnxruntime.quantization.quantize_dynamic``).
* ``openvino-f32`` / ``openvino-bf16``: the exported graph compiled by OpenVINO for the CPU with that inference
  precision (``pip install openvino``).

An export is cached under the model cache (``LISTDISTILL_MODEL_CACHE``, default ``.cache/models``) in
``onnx/<name>-<key>/``, keyed by the model folder's path, the size and modification time of its weights and the
torch, transformers and onnxruntime versions, and written atomically (a folder renamed into place), so concurrent
stages export at most once each and never read half an export. Only the transformer runs in ONNX Runtime;
tokenisation, pooling and normalisation stay in :class:`listdistill.encoder.Encoder`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from listdistill.models import load_checked
from listdistill.packaged import model_cache_dir

BACKENDS = ("torch", "onnx", "onnx-int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def _versions() -> dict[str, str]:
    import onnxruntime
    import torch
    import transformers

    versions = (torch.__version__, transformers.__version__, onnxruntime.__version__)
    return dict(zip(("torch", "transformers", "onnxruntime"), versions, strict=True))


def export_key(model_dir: Path) -> str:
    """A key that changes when the model's weights, its config or the exporting libraries change."""
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in (".safetensors", ".bin", ".json"))
    stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps({"dir": str(model_dir.resolve()), "files": stats, **_versions()}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def export_folder(model_dir: Path) -> Path:
    return model_cache_dir() / "onnx" / f"{model_dir.resolve().name}-{export_key(model_dir)}"


def _export(model_dir: Path, dest: Path) -> None:
    """Export the transformer of ``model_dir`` (inputs -> last hidden states) to ``dest/model.onnx`` and its int8
    quantisation to ``dest/model.int8.onnx``, building in a temporary folder renamed into place."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tokenizer = load_checked(AutoTokenizer, model_dir)
    model = load_checked(AutoModel, model_dir, attn_implementation="eager").eval()
    sample = tokenizer(["an example passage", "a second, longer example passage"], padding=True, return_tensors="pt")
    names = [k for k in INPUTS if k in sample]

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state  # (B, T, d)

    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        dynamic = {k: {0: "batch", 1: "tokens"} for k in [*names, "hidden"]}
        with torch.no_grad():
            torch.onnx.export(
                LastHidden(),
                tuple(sample[k] for k in names),
                str(tmp / "model.onnx"),
                input_names=names,
                output_names=["hidden"],
                dynamic_axes=dynamic,
                opset_version=OPSET,
                dynamo=False,
            )
        quantize_dynamic(str(tmp / "model.onnx"), str(tmp / "model.int8.onnx"), weight_type=QuantType.QInt8)
        (tmp / "export.json").write_text(json.dumps({"source": str(model_dir), "inputs": names, **_versions()}))
        try:
            tmp.replace(dest)
        except OSError:  # another process finished first: keep its export
            if not (dest / "export.json").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_export(model_dir: Path) -> Path:
    """The cached export folder of ``model_dir``, exported first if missing."""
    dest = export_folder(model_dir)
    if not (dest / "export.json").is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        _export(model_dir, dest)
    return dest


class OpenVinoTransformer:
    """The exported transformer compiled by OpenVINO: ``__call__(batch) -> (B, T, d)`` float32."""

    def __init__(self, model_dir: str | Path, precision: str, threads: int | None = None) -> None:
        import openvino

        folder = ensure_export(Path(model_dir))
        core = openvino.Core()
        config = {"INFERENCE_NUM_THREADS": threads or _torch_threads(), "INFERENCE_PRECISION_HINT": precision}
        self.request = core.compile_model(
            core.read_model(str(folder / "model.onnx")), "CPU", config
        ).create_infer_request()
        self.inputs = json.loads((folder / "export.json").read_text())["inputs"]

    def __call__(self, batch: Mapping[str, Any]) -> np.ndarray:
        return self.request.infer({k: np.asarray(batch[k], dtype=np.int64) for k in self.inputs})[0]


class EngineEncoder:
    """An :class:`~listdistill.encoder.Encoder`'s tokenisation, pooling and normalisation around another engine's
    transformer: ``encode(texts, is_query) -> (N, d)`` float32 in input order, length-sorted batches."""

    def __init__(self, encoder: Any, engine: Any) -> None:
        self.encoder, self.engine = encoder, engine

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        cfg = self.encoder.config
        order = sorted(range(len(texts)), key=lambda i: (-len(texts[i]), i))
        out = np.zeros((len(texts), self.encoder.dim), dtype=np.float32)
        for s in range(0, len(order), cfg.batch_size):
            idx = order[s : s + cfg.batch_size]
            prefix = self.encoder.prefix(is_query)
            max_len = cfg.query_max_length if is_query else cfg.passage_max_length
            batch = self.encoder.tokenizer([prefix + texts[i] for i in idx], padding=True, truncation=True,
                                           max_length=max_len, return_tensors="np")  # fmt: skip
            hidden = self.engine(batch)  # (B, T, d)
            mask = batch["attention_mask"].astype(np.float32)[..., None]  # (B, T, 1)
            emb = (
                hidden[:, 0]
                if self.encoder.pooling == "cls"
                else (hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9)
            )
            out[idx] = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        return out


class OnnxTransformer:
    """A transformer run by ONNX Runtime: ``__call__(batch) -> (B, T, d)`` last hidden states as float32."""

    def __init__(self, model_dir: str | Path, quantized: bool, threads: int | None = None) -> None:
        import onnxruntime as ort

        folder = ensure_export(Path(model_dir))
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or _torch_threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        path = folder / ("model.int8.onnx" if quantized else "model.onnx")
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, batch: Mapping[str, Any]) -> np.ndarray:
        feed = {k: np.asarray(batch[k], dtype=np.int64) for k in self.inputs}
        return self.session.run(None, feed)[0]  # (B, T, d)


def _torch_threads() -> int:
    import torch

    return max(1, torch.get_num_threads())
