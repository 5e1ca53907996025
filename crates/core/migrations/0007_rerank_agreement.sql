-- The rerank model's measured reliability per knowledge base, like vector_sets' agreement
-- counts: on questions where keyword search was sure of its first document, how often the
-- reranker's first document was the same one. Below one half, its order is not used.
CREATE TABLE rerank_agreement (
    kb_id      INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    model      TEXT    NOT NULL,
    checks     INTEGER NOT NULL DEFAULT 0,
    agreements INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (kb_id, model)
);
