-- Structure from richer formats: document titles and page counts, pages that need OCR,
-- and the heading path each chunk sits under.
ALTER TABLE documents ADD COLUMN title TEXT;
ALTER TABLE documents ADD COLUMN page_count INTEGER;
ALTER TABLE documents ADD COLUMN pages_needing_ocr TEXT NOT NULL DEFAULT '[]'; -- JSON array of page numbers
ALTER TABLE chunks ADD COLUMN heading_path TEXT NOT NULL DEFAULT '[]'; -- JSON array, outermost first
