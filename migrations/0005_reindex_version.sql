-- A counter bumped by every enqueue of a queued page, so the worker's "done" removes the
-- row only if nobody saved the page again while it was embedding (timestamps in seconds
-- cannot tell two saves in one second apart).
ALTER TABLE reindex_queue ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
