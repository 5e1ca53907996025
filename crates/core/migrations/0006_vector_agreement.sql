-- How often a vector set's first document was keyword search's first document, counted on the
-- questions where keyword search was sure of its answer: the embedding model's measured
-- reliability on this knowledge base, which scales its say in hybrid fusion.
ALTER TABLE vector_sets ADD COLUMN agreement_checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE vector_sets ADD COLUMN agreements INTEGER NOT NULL DEFAULT 0;
