-- Python package index (PEP 503/691/658/700). Pages are rendered from these rows
-- alone: one indexed range scan per project page, no directory scans.

-- The indexes declared in the [pypi] config section (upserted at startup).
-- Named like devpi's stages: "root/pypi", "team/dev".
CREATE TABLE pypi_index (
    name        TEXT    NOT NULL PRIMARY KEY,   -- "<user>/<index>"
    kind        TEXT    NOT NULL CHECK (kind IN ('hosted', 'mirror')),
    upstream    TEXT,                           -- mirror: the simple index URL, credentials stripped
    created_at  BIGINT  NOT NULL
);

-- Inheritance (devpi's `bases`): an index also serves its bases' files,
-- searched in `position` order (mirrors last). Rewritten from the config at startup.
CREATE TABLE pypi_index_base (
    index_name  TEXT    NOT NULL REFERENCES pypi_index (name) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    base_name   TEXT    NOT NULL REFERENCES pypi_index (name) ON DELETE CASCADE,
    PRIMARY KEY (index_name, position)
);

-- A project of one index, by its PEP 503-normalized name.
CREATE TABLE pypi_project (
    index_name    TEXT    NOT NULL REFERENCES pypi_index (name) ON DELETE CASCADE,
    name          TEXT    NOT NULL,             -- normalized: "foo-bar-baz"
    display_name  TEXT    NOT NULL,             -- as first uploaded: "Foo.Bar_baz"
    -- Mirror indexes: when the upstream page was last fetched, and its ETag
    -- for revalidation. NULL for hosted projects.
    fetched_at    BIGINT,
    upstream_etag TEXT,
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (index_name, name)
);

-- A distribution file of a project. The filename is unique per index. For a
-- hosted index the bytes are always stored (blob_digest set); a mirror will
-- list upstream files whose bytes are not fetched yet (blob_digest NULL,
-- remote_url set).
CREATE TABLE pypi_file (
    index_name      TEXT    NOT NULL,
    project         TEXT    NOT NULL,           -- normalized name
    filename        TEXT    NOT NULL,           -- as uploaded: "foo_bar_baz-1.0+local-py3-none-any.whl"
    version         TEXT    NOT NULL,           -- PEP 440-normalized version of the filename
    sha256          TEXT    NOT NULL,           -- 64 lowercase hex of the file's bytes
    size            BIGINT  NOT NULL,
    blob_digest     TEXT    REFERENCES blob (digest),
    upload_time_us  BIGINT  NOT NULL,           -- unix microseconds (PEP 700 upload-time)
    requires_python TEXT,                       -- raw, unescaped
    yanked          TEXT,                       -- NULL: not yanked; otherwise the reason ('' for none)
    metadata_digest TEXT    REFERENCES blob (digest), -- the PEP 658 .metadata file (wheel METADATA)
    remote_url      TEXT,                       -- mirror: where to fetch the bytes
    origin          TEXT    NOT NULL,           -- "upload:<user>" or the upstream URL
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (index_name, filename),
    FOREIGN KEY (index_name, project) REFERENCES pypi_project (index_name, name)
);
-- A project page reads this index in order: no sort, no table scan.
CREATE INDEX pypi_file_project ON pypi_file (index_name, project, filename);
CREATE INDEX pypi_file_blob ON pypi_file (blob_digest);
CREATE INDEX pypi_file_metadata ON pypi_file (metadata_digest);
