-- Go: module files are verified against a checksum database before they are stored.

-- How each stored .mod and .zip was checked: 'verified' (its h1: is the
-- checksum database's), 'not-covered' (go.private, or no database with a key),
-- 'unverified' (the database could not answer; kept by go.store_unverified or
-- `import --keep-unverified`). NULL for .info files and files stored before this.
ALTER TABLE go_file ADD COLUMN verification TEXT
    CHECK (verification IN ('verified', 'not-covered', 'unverified'));

-- The newest tree head verified per checksum database: every later one must be
-- consistent with it (a log that forks is refused).
CREATE TABLE go_sumdb_head (
    db_name     TEXT    NOT NULL PRIMARY KEY,   -- e.g. "sum.golang.org"
    tree_size   BIGINT  NOT NULL,
    root_hash   TEXT    NOT NULL,               -- base64, as in the note
    note        TEXT    NOT NULL,               -- the signed note's text
    updated_at  BIGINT  NOT NULL
);
