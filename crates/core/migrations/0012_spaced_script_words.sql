-- Words of the alphabetic scripts written with spaces that jieba does not know (Latin with
-- diacritics, Greek, Cyrillic, Armenian, Hebrew, Arabic, Vietnamese) are now indexed whole
-- (`keyword::Segmenter::cut`) instead of letter by letter, so "Zurich" finds "Zürich". A
-- catalogue holding such text has its keyword index filled again from the chunks' text when
-- the library opens (`keyword_index_stale`); a catalogue without any keeps its index.
-- The character class spans U+00C0 to U+06FF and U+1E00 to U+1EFF, as `in_spaced_script_blocks`.
UPDATE library SET keyword_index_stale = 1
WHERE EXISTS (SELECT 1 FROM chunks WHERE text GLOB '*[À-ۿḀ-ỿ]*');
