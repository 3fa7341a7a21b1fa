-- Pages whose semantic index entry is out of date. One row per (wiki, page): a page
-- saved ten times while the worker is busy is embedded once. Rows are written after the
-- commit that made them necessary; the worker also compares each index's commit with
-- HEAD, so a crash between the two loses nothing.
CREATE TABLE reindex_queue (
    wiki_id         INTEGER NOT NULL REFERENCES wikis(id) ON DELETE CASCADE,
    path            TEXT NOT NULL,
    enqueued_at     INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    PRIMARY KEY (wiki_id, path)
);
CREATE INDEX reindex_queue_due ON reindex_queue(next_attempt_at);
