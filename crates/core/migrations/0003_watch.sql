-- Watched folders: a knowledge base mirrors each of them (live, and by a scan at start-up),
-- plus the index that finds a moved file's document by its content hash.

CREATE TABLE watched_folders (
    id             INTEGER PRIMARY KEY,
    kb_id          INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    path           TEXT    NOT NULL, -- absolute, as the user gave it
    canonical_path TEXT    NOT NULL, -- symlinks and `..` resolved; what is watched and compared
    include_globs  TEXT    NOT NULL DEFAULT '[]', -- JSON array; empty = every supported file
    exclude_globs  TEXT    NOT NULL DEFAULT '[]', -- JSON array, on top of the built-in excludes
    -- paused is the user's choice; missing and error are set by the watcher and cleared by it.
    state          TEXT    NOT NULL DEFAULT 'active'
                           CHECK (state IN ('active', 'paused', 'missing', 'error')),
    last_sync_at   INTEGER, -- unix milliseconds of the last applied change or full scan
    last_error     TEXT,
    pending        INTEGER NOT NULL DEFAULT 0 CHECK (pending >= 0), -- changes seen, not yet applied
    created_at     INTEGER NOT NULL,
    UNIQUE (kb_id, canonical_path)
);
CREATE INDEX watched_folders_by_kb ON watched_folders (kb_id);

-- A file that disappears from one path and appears at another with the same content is a move.
CREATE INDEX documents_by_hash ON documents (kb_id, hash);
