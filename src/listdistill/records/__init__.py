"""The records passed between stages: one typed record per kind, and one reader and one writer per file kind.

docs/formats.md documents every file (its path in the pipeline, each field, an example line). In short:

========================  ======================  ====================================================
file                      record                  reader / writer
========================  ======================  ====================================================
corpus.jsonl, pool.jsonl  :class:`Doc`            :func:`read_docs` / :func:`write_docs`
queries.jsonl             :class:`Query`          :func:`read_queries` / :func:`write_queries`
qrels.txt (TREC)          :data:`Qrels`           :func:`read_qrels` / :func:`write_qrels`
duplicates.jsonl          :class:`Duplicate`      :func:`read_duplicates` / :func:`write_duplicates`
generated/<type>.jsonl    :class:`GeneratedQuery` :func:`read_generated` / :func:`write_generated`
generated/dropped/...     :class:`DroppedQuery`   :func:`read_dropped` / :func:`write_dropped`
candidates.jsonl          :class:`MinedQuery`     :func:`read_candidates` / :func:`write_candidates`
{train,dev}.jsonl         :class:`ScoredQuery`    :func:`read_scored` / :func:`write_scored`
<name>.trec (TREC)        :data:`Run`             :func:`read_run` / :func:`write_run`
corpus_emb.json           :class:`EmbeddingsMeta` :func:`read_embeddings_meta` / :func:`write_embeddings_meta`
shard.json                :class:`ShardManifest`  :func:`read_manifest` / :func:`write_manifest`
========================  ======================  ====================================================

Readers check every line and raise :class:`~listdistill.io.FormatError` as ``<file>:<line>: <what was
expected>``: invalid UTF-8 or JSON, a missing, null or non-string id, an id the line formats cannot carry
(:func:`id_problem`), text that shows nothing (:func:`is_blank`), a repeated id, a pair judged twice with two
grades, and for TREC files the number of fields and the type of each; given the corpus (``doc_ids``), every doc id
a record names must be in it. Writers are atomic (:func:`~listdistill.io.atomic_open`) and deterministic: records
in the order given (qrels and runs in natural query-id order), floats at fixed precision.

The rules for ids, text and qrels live here once; the raw collection loaders (:mod:`listdistill.data`) apply the
same ones (:func:`check_id`, :func:`is_blank`, :class:`QrelsBuilder`, :func:`qrels_lines`).

One module per file kind: :mod:`~listdistill.records.collection` (passages, queries, duplicates, what prepare
made), :mod:`~listdistill.records.trec` (qrels and runs, and the qrels rules the raw loaders share),
:mod:`~listdistill.records.synthetic` (generated, dropped, mined and scored queries),
:mod:`~listdistill.records.embeddings` (corpus embeddings and shard manifests); beneath them the rules for ids and
text (:mod:`~listdistill.records.rules`) and the JSON lines primitives (:mod:`~listdistill.records.jsonl`). Every
public name is importable from here.
"""

from __future__ import annotations

from listdistill.records.collection import (
    DUPLICATE_REASONS,
    EVALUATIONS,
    CollectionInfo,
    Doc,
    Duplicate,
    Query,
    read_collection_info,
    read_docs,
    read_duplicates,
    read_queries,
    write_collection_info,
    write_docs,
    write_duplicates,
    write_queries,
)
from listdistill.records.embeddings import (
    EMBEDDING_ROWS,
    EmbeddingsMeta,
    ShardManifest,
    read_embeddings,
    read_embeddings_meta,
    read_manifest,
    write_embeddings_meta,
    write_manifest,
)
from listdistill.records.jsonl import (
    iter_jsonl,
    jsonl_objects,
    line_of,
    numbered_jsonl,
    query_line,
    text_lines,
    write_jsonl,
)
from listdistill.records.rules import (
    BLANK_FILLERS,
    PRECISION,
    UniqueIds,
    check_id,
    check_known,
    check_text,
    id_problem,
    is_blank,
    natural_key,
)
from listdistill.records.synthetic import (
    DroppedQuery,
    GeneratedQuery,
    MinedQuery,
    ScoredCandidate,
    ScoredQuery,
    read_candidates,
    read_dropped,
    read_generated,
    read_scored,
    write_candidates,
    write_dropped,
    write_generated,
    write_scored,
)
from listdistill.records.trec import (
    DOC_COLUMNS,
    OTHER_COLUMNS,
    QRELS_COLUMNS,
    QUERY_COLUMNS,
    QrelsBuilder,
    check_relevant,
    is_qrels_header,
    parse_grade,
    qrels_lines,
    read_qrels,
    read_run,
    relevant_counts,
    write_qrels,
    write_run,
)

__all__ = [
    "BLANK_FILLERS",
    "CollectionInfo",
    "DOC_COLUMNS",
    "DUPLICATE_REASONS",
    "Doc",
    "DroppedQuery",
    "Duplicate",
    "EMBEDDING_ROWS",
    "EVALUATIONS",
    "EmbeddingsMeta",
    "GeneratedQuery",
    "MinedQuery",
    "OTHER_COLUMNS",
    "PRECISION",
    "QRELS_COLUMNS",
    "QUERY_COLUMNS",
    "QrelsBuilder",
    "Query",
    "ScoredCandidate",
    "ScoredQuery",
    "ShardManifest",
    "UniqueIds",
    "check_id",
    "check_known",
    "check_relevant",
    "check_text",
    "id_problem",
    "is_blank",
    "is_qrels_header",
    "iter_jsonl",
    "jsonl_objects",
    "line_of",
    "natural_key",
    "numbered_jsonl",
    "parse_grade",
    "qrels_lines",
    "query_line",
    "read_candidates",
    "read_collection_info",
    "read_docs",
    "read_dropped",
    "read_duplicates",
    "read_embeddings",
    "read_embeddings_meta",
    "read_generated",
    "read_manifest",
    "read_qrels",
    "read_queries",
    "read_run",
    "read_scored",
    "relevant_counts",
    "text_lines",
    "write_candidates",
    "write_collection_info",
    "write_docs",
    "write_dropped",
    "write_duplicates",
    "write_embeddings_meta",
    "write_generated",
    "write_jsonl",
    "write_manifest",
    "write_qrels",
    "write_queries",
    "write_run",
    "write_scored",
]
