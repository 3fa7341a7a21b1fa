-- Full-text index over every wiki's pages.
--
-- `fts_docs` names each indexed page; its id is the rowid of the page's row in
-- `pages_fts`, so an update deletes by rowid instead of scanning. The FTS `wiki` column holds
-- a per-wiki token ("w" + id) so a query is restricted with a column filter inside MATCH,
-- which FTS5 evaluates on its doclists rather than by filtering rows afterwards.
CREATE TABLE fts_docs (
    id       INTEGER PRIMARY KEY,
    wiki_id  INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    path     TEXT NOT NULL,
    UNIQUE (wiki_id, path)
);

CREATE VIRTUAL TABLE pages_fts USING fts5(
    wiki,
    title,
    body,
    tokenize = 'porter unicode61'
);

-- The commit each wiki's full-text index reflects; compared with HEAD at start and after
-- every write, so a crash or an outside commit never leaves the index stale.
CREATE TABLE fts_state (
    wiki_id     INTEGER PRIMARY KEY REFERENCES wikis(id) ON DELETE CASCADE,
    commit_id   TEXT NOT NULL
);
