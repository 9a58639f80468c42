"""The mine step: each generated query's candidate list from the retrievers, fused by reciprocal rank
(``fusion``), with the round-trip check (``candidates``)."""
