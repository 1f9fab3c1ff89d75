-- A hosted repository's compressed metadata, in pieces that a publish reuses.
-- primary, filelists and other.xml.gz are each one gzip stream cut into
-- independently compressed pieces, one per *chunk* of packages (a run of
-- packages in repodata order, ended by content: see
-- crates/airlock-yum/src/publish.rs). A publish recompresses only the chunks
-- whose packages changed. Nothing here is a blob: it is a cache, derived from
-- yum_package, and a lost or stale row costs only a recompression.
CREATE TABLE yum_deflate_chunk (
    repo        TEXT    NOT NULL REFERENCES yum_repository (name),
    chunk_key   TEXT    NOT NULL,   -- sha256 hex over the chunk's packages' identities
    -- Base64 of raw deflate blocks that end in a sync flush (byte-aligned, not
    -- final), one per metadata file.
    primary_z   TEXT    NOT NULL,
    filelists_z TEXT    NOT NULL,
    other_z     TEXT    NOT NULL,
    PRIMARY KEY (repo, chunk_key)
);
