-- OCI content named by sha512 (distribution-spec main; the conformance suite
-- pushes sha512 data). The store names every blob by its sha256; a client's
-- digest of another algorithm maps onto it here. Both columns that name a
-- stored blob are in airlock_oci::index::BLOB_REFERENCES.

-- A digest of another algorithm than sha256 → the blob it names. Written only
-- after the bytes were hashed with both and are durable; garbage collection
-- (airlock_oci::gc) drops an alias once no repository row holds its blob.
CREATE TABLE oci_digest_alias (
    digest      TEXT    NOT NULL PRIMARY KEY,   -- "sha512:<128 hex>"
    blob        TEXT    NOT NULL REFERENCES blob (digest),
    created_at  BIGINT  NOT NULL
);
CREATE INDEX oci_digest_alias_blob ON oci_digest_alias (blob);

-- The digest a manifest was pushed by, when it is not its sha256: served as
-- its Docker-Content-Digest by tag and in referrers answers.
ALTER TABLE oci_manifest ADD COLUMN pushed_as TEXT;

-- The algorithm an upload's bytes are also hashed with as they arrive
-- (`?digest-algorithm=sha512`, or a `?digest=sha512:…` POST); NULL: sha256 only.
ALTER TABLE oci_upload ADD COLUMN algorithm TEXT;
