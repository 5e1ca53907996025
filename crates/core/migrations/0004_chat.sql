-- Conversations: questions and answers per knowledge base, with the citations each answer
-- was grounded in, so a reopened conversation shows the same sources.
CREATE TABLE conversations (
    id         INTEGER PRIMARY KEY,
    kb_id      INTEGER NOT NULL REFERENCES knowledge_bases (id) ON DELETE CASCADE,
    title      TEXT    NOT NULL,
    created_at INTEGER NOT NULL, -- unix milliseconds
    updated_at INTEGER NOT NULL
);
CREATE INDEX conversations_by_kb ON conversations (kb_id, updated_at);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('user', 'assistant')),
    content         TEXT    NOT NULL, -- Markdown
    mode            TEXT, -- assistant only: generated | retrieval_only | no_passages
    status          TEXT    NOT NULL DEFAULT 'complete'
                    CHECK (status IN ('complete', 'partial', 'failed', 'cancelled')),
    error           TEXT,
    citations       TEXT    NOT NULL DEFAULT '[]', -- JSON array of citations
    retrieval_query TEXT, -- the standalone query a follow-up was condensed into
    created_at      INTEGER NOT NULL
);
CREATE INDEX messages_by_conversation ON messages (conversation_id, id);
