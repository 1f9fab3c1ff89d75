-- Python mirror indexes: PEP 658 metadata offered by the upstream, and the
-- upstream's root project list.

-- The `.metadata` file the upstream's page offers for a file: NULL none, ''
-- offered without a hash, else its sha256 (64 lowercase hex). It is fetched
-- on demand into metadata_digest, checked against this hash.
ALTER TABLE pypi_file ADD COLUMN upstream_metadata TEXT;

-- A mirror's copy of its upstream's `/simple/` project list (the body as the
-- upstream sent it, JSON or HTML), kept for a TTL and revalidated by ETag.
CREATE TABLE pypi_root_list (
    index_name    TEXT    NOT NULL PRIMARY KEY REFERENCES pypi_index (name) ON DELETE CASCADE,
    blob_digest   TEXT    NOT NULL REFERENCES blob (digest),
    content_type  TEXT    NOT NULL,
    upstream_etag TEXT,
    fetched_at    BIGINT  NOT NULL
);
CREATE INDEX pypi_root_list_blob ON pypi_root_list (blob_digest);
