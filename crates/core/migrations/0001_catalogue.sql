-- The catalogue: knowledge bases, their documents, the chunks cut from them,
-- the keyword index over those chunks, and the import jobs that produced them.

CREATE TABLE knowledge_bases (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    chunk_size    INTEGER NOT NULL DEFAULT 512 CHECK (chunk_size > 0),
    chunk_overlap INTEGER NOT NULL DEFAULT 64 CHECK (chunk_overlap >= 0),
    created_at    INTEGER NOT NULL -- unix milliseconds
);

CREATE TABLE documents (
    id             INTEGER PRIMARY KEY,
    kb_id          INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    path           TEXT    NOT NULL, -- as the user gave it (absolute)
    canonical_path TEXT    NOT NULL, -- symlinks and `..` resolved; the identity within a kb
    format         TEXT,
    size           INTEGER NOT NULL,
    mtime_ms       INTEGER NOT NULL,
    hash           TEXT    NOT NULL, -- BLAKE3 of the content, hex
    status         TEXT    NOT NULL CHECK (status IN ('indexed', 'failed')),
    error          TEXT,
    encoding       TEXT,
    warnings       TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    chunk_count    INTEGER NOT NULL DEFAULT 0,
    added_at       INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (kb_id, canonical_path)
);

CREATE TABLE chunks (
    id          INTEGER PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     INTEGER NOT NULL,
    text        TEXT    NOT NULL,
    page        INTEGER,
    start_char  INTEGER NOT NULL, -- span in the document's extracted text, Unicode scalars
    end_char    INTEGER NOT NULL,
    UNIQUE (document_id, ordinal)
);

-- Keyword index: jieba tokens of each chunk, space-joined, keyed by chunk id.
-- Contentless (the chunk text lives in `chunks`), but rows can still be deleted.
CREATE VIRTUAL TABLE chunk_fts USING fts5 (
    tokens,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Chunks leave the keyword index with them, including through ON DELETE CASCADE.
CREATE TRIGGER chunks_leave_fts AFTER DELETE ON chunks BEGIN
    DELETE FROM chunk_fts WHERE rowid = old.id;
END;

CREATE TABLE jobs (
    id         INTEGER PRIMARY KEY,
    kb_id      INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    path       TEXT    NOT NULL,
    state      TEXT    NOT NULL CHECK (state IN ('queued', 'extracting', 'indexing', 'done', 'failed', 'skipped')),
    error      TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX jobs_by_state ON jobs (kb_id, state);
