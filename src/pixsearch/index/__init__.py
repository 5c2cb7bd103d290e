"""The derived indexes, one module each, holding both halves: the rows the apply step
writes and the queries search reads them with (`terms`, `fulltext`, `embeddings`; the
in-memory `vectors` and PostgreSQL's `pgvector` are the two engines of embeddings)."""
