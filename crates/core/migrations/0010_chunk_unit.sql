-- A knowledge base's chunk size and overlap count characters (as before) or tokens estimated
-- for its embedding model.
ALTER TABLE knowledge_bases ADD COLUMN chunk_unit TEXT NOT NULL DEFAULT 'chars'
    CHECK (chunk_unit IN ('chars', 'tokens'));
