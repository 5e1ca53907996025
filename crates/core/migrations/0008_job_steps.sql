-- Import jobs record every step a file goes through: queued, extracting, chunking, indexing,
-- then embedding (keyword-indexed and searchable, its vectors still being made) when the
-- knowledge base has an embedding model, and done, failed or skipped. A job knows the document
-- it produced, so the embedder can finish it when that document's last vector is stored.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE jobs_new (
    id          INTEGER PRIMARY KEY,
    kb_id       INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    path        TEXT    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'extracting', 'chunking', 'indexing',
                                                  'embedding', 'done', 'failed', 'skipped')),
    error       TEXT,
    document_id INTEGER REFERENCES documents (id) ON DELETE SET NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
INSERT INTO jobs_new (id, kb_id, path, state, error, created_at, updated_at)
    SELECT id, kb_id, path, state, error, created_at, updated_at FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_state ON jobs (kb_id, state);
CREATE INDEX jobs_by_document ON jobs (document_id) WHERE document_id IS NOT NULL;
