-- Identical files are stored once. A file whose content (hash and format) is that of another
-- document of the knowledge base is kept as a duplicate of it: listed, with no passages of its
-- own (questions cite the original; nothing is embedded twice). A duplicate always points at an
-- original, never at another duplicate.
ALTER TABLE documents ADD COLUMN duplicate_of INTEGER REFERENCES documents (id);
CREATE INDEX documents_by_original ON documents (duplicate_of) WHERE duplicate_of IS NOT NULL;

-- When an original goes, its oldest duplicate takes its passages (their ids, keyword rows and
-- vectors stay as they are) and the other duplicates point at it: nothing searchable is lost.
CREATE TRIGGER documents_promote_duplicate_on_delete BEFORE DELETE ON documents
WHEN EXISTS (SELECT 1 FROM documents WHERE duplicate_of = old.id)
BEGIN
    UPDATE chunks SET document_id = (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id)
        WHERE document_id = old.id;
    UPDATE documents SET duplicate_of = (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id)
        WHERE duplicate_of = old.id
          AND id > (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id);
    UPDATE documents SET duplicate_of = NULL, title = old.title, page_count = old.page_count,
            pages_needing_ocr = old.pages_needing_ocr, encoding = old.encoding,
            chunk_count = old.chunk_count
        WHERE duplicate_of = old.id;
END;

-- The same when an original's content changes (its file was edited and imported again): the
-- duplicates still hold the old content, so the oldest of them takes the old passages before the
-- new ones are stored.
CREATE TRIGGER documents_promote_duplicate_on_change AFTER UPDATE OF hash ON documents
WHEN old.hash <> new.hash AND EXISTS (SELECT 1 FROM documents WHERE duplicate_of = old.id)
BEGIN
    UPDATE chunks SET document_id = (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id)
        WHERE document_id = old.id;
    UPDATE documents SET duplicate_of = (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id)
        WHERE duplicate_of = old.id
          AND id > (SELECT MIN(id) FROM documents WHERE duplicate_of = old.id);
    UPDATE documents SET duplicate_of = NULL, title = old.title, page_count = old.page_count,
            pages_needing_ocr = old.pages_needing_ocr, encoding = old.encoding,
            chunk_count = old.chunk_count
        WHERE duplicate_of = old.id;
END;
