-- The full-text index keeps no copy of the pages: snippets are cut from the pages at
-- HEAD, and ranking needs only the index. A contentless table with deletes (SQLite
-- 3.43) drops a page's old terms without re-reading and re-tokenising its old text,
-- which halves the cost of re-indexing a changed page. The index is rebuilt from the
-- repositories at the next start (no `fts_state` row means "index everything").
DROP TABLE pages_fts;
CREATE VIRTUAL TABLE pages_fts USING fts5(
    wiki,
    title,
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'porter unicode61'
);
DELETE FROM fts_docs;
DELETE FROM fts_state;
