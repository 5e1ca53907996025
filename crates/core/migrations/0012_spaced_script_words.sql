-- Words of the alphabetic scripts written with spaces that jieba does not know (Latin with
-- diacritics, Greek, Cyrillic, Armenian, Hebrew, Arabic, Vietnamese) are now indexed whole
-- (`keyword::Segmenter::cut`) instead of letter by letter, so "Zurich" finds "Zürich". When
-- the library opens, the passages holding such letters get their keyword rows again
-- (`keyword_index_stale` = 2, see `Catalogue::rebuild_keyword_index_if_stale`); the others
-- keep theirs. A whole rebuild still pending (= 1) covers them too.
-- The character class spans U+00C0 to U+06FF and U+1E00 to U+1EFF, as `in_spaced_script_blocks`.
UPDATE library SET keyword_index_stale = 2
WHERE keyword_index_stale = 0
  AND EXISTS (SELECT 1 FROM chunks WHERE text GLOB '*[À-ۿḀ-ỿ]*');
