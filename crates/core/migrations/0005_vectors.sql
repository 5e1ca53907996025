-- Vectors live in Chroma; the catalogue records which chunks have one, per embedding model,
-- so the embedding backlog is a query, a crash loses nothing, and deletes reach Chroma.

-- The knowledge base's embedding model; NULL: the configured default (LEXINAUT_EMBED_MODEL).
ALTER TABLE knowledge_bases ADD COLUMN embedding_model TEXT;

-- Chunks whose vector for `model` is stored in Chroma.
CREATE TABLE chunk_vectors (
    chunk_id INTEGER NOT NULL,
    kb_id    INTEGER NOT NULL,
    model    TEXT    NOT NULL,
    PRIMARY KEY (chunk_id, model)
) WITHOUT ROWID;
CREATE INDEX chunk_vectors_by_kb ON chunk_vectors (kb_id, model);

-- Vectors of deleted chunks, still to be removed from Chroma (kept until Chroma confirms).
CREATE TABLE vector_tombstones (
    chunk_id INTEGER NOT NULL,
    kb_id    INTEGER NOT NULL,
    model    TEXT    NOT NULL,
    PRIMARY KEY (chunk_id, model)
) WITHOUT ROWID;

CREATE TRIGGER chunks_leave_vectors AFTER DELETE ON chunks BEGIN
    INSERT OR IGNORE INTO vector_tombstones (chunk_id, kb_id, model)
        SELECT chunk_id, kb_id, model FROM chunk_vectors WHERE chunk_id = old.id;
    DELETE FROM chunk_vectors WHERE chunk_id = old.id;
END;

-- Each (knowledge base, model) vector set, and whether it covers every chunk: retrieval keeps
-- using a complete older set while a new model's vectors are being built.
CREATE TABLE vector_sets (
    kb_id        INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    model        TEXT    NOT NULL,
    dimension    INTEGER,
    complete     INTEGER NOT NULL DEFAULT 0,
    completed_at INTEGER,
    PRIMARY KEY (kb_id, model)
);

-- Chunk ids are never reused: a vector id in Chroma names one chunk forever.
CREATE TABLE id_counters (
    name TEXT PRIMARY KEY,
    next INTEGER NOT NULL
);
INSERT INTO id_counters (name, next) SELECT 'chunks', COALESCE(MAX(id), 0) + 1 FROM chunks;

-- This library's identity, in the names of its Chroma collections: two libraries (two users,
-- a test run beside the app) can share one Chroma server without touching each other's vectors.
CREATE TABLE library (
    id TEXT NOT NULL
);
INSERT INTO library (id) VALUES (lower(hex(randomblob(6))));
