-- The shared core: every stored artifact is a blob, addressed by its sha256.
-- A row here is written only after the blob file is durable (fsynced and renamed),
-- so a row never points at a missing or partial file.
CREATE TABLE blob (
    digest      TEXT    NOT NULL PRIMARY KEY,   -- "sha256:<64 hex>"
    size        BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL                -- unix seconds
);

-- Go module proxy: one row per stored file of a module version.
-- .info, .mod and .zip are cached independently: `go` fetches only the .mod
-- of versions it does not select.
CREATE TABLE go_file (
    module      TEXT    NOT NULL,               -- unescaped module path
    version     TEXT    NOT NULL,               -- canonical version
    kind        TEXT    NOT NULL CHECK (kind IN ('info', 'mod', 'zip')),
    blob_digest TEXT    NOT NULL REFERENCES blob (digest),
    h1          TEXT,                           -- dirhash of the zip or go.mod, NULL for .info
    origin      TEXT    NOT NULL,               -- upstream URL or import source
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (module, version, kind)
);
CREATE INDEX go_file_blob ON go_file (blob_digest);

-- Checksum database files proxied for `go` (lookups, tiles, the latest tree head).
CREATE TABLE go_sumdb_file (
    db_name     TEXT    NOT NULL,               -- e.g. "sum.golang.org"
    path        TEXT    NOT NULL,               -- e.g. "lookup/golang.org/x/text@v0.3.0"
    blob_digest TEXT    NOT NULL REFERENCES blob (digest),
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (db_name, path)
);
CREATE INDEX go_sumdb_file_blob ON go_sumdb_file (blob_digest);
