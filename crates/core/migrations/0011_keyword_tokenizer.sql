-- The keyword index takes tokens already in index form (lowercase, without diacritics, split at
-- anything but letters and digits: `keyword::index_form`), so its tokenizer only needs to split
-- at spaces. `ascii` does that for a fraction of `unicode61`'s work, which ran inside the
-- catalogue's single writer on every import.
--
-- A contentless index cannot be re-tokenized from SQL: it is recreated empty here, and the
-- library fills it again from the chunks' text when it opens (`keyword_index_stale`).
DROP TABLE chunk_fts;
CREATE VIRTUAL TABLE chunk_fts USING fts5 (
    tokens,
    content = '',
    contentless_delete = 1,
    tokenize = 'ascii'
);
ALTER TABLE library ADD COLUMN keyword_index_stale INTEGER NOT NULL DEFAULT 0;
UPDATE library SET keyword_index_stale = EXISTS (SELECT 1 FROM chunks);
