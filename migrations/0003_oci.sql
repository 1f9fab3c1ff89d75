-- OCI registry (airlock-oci). Manifests and blobs are ordinary blobs of the
-- shared store; these tables say which repository holds which of them.
-- Every digest column below that names a stored blob is listed in
-- airlock_oci::index::BLOB_REFERENCES.

-- A repository: `hosted` takes pushes; `mirror` (pull-through of one
-- configured upstream, `upstream` naming it) and groups come later.
CREATE TABLE oci_repository (
    name        TEXT    NOT NULL PRIMARY KEY,   -- e.g. "team/app", later "docker.io/library/alpine"
    kind        TEXT    NOT NULL CHECK (kind IN ('hosted', 'mirror')),
    upstream    TEXT,                           -- mirror: the configured upstream's name
    created_at  BIGINT  NOT NULL
);

-- Blobs (layers, configs) visible in a repository: pushed into it or mounted.
-- Blob GET/HEAD, mounts and a manifest's reference check read this, so a
-- blob deleted from one repository stays in the others.
CREATE TABLE oci_repository_blob (
    repository  TEXT    NOT NULL REFERENCES oci_repository (name),
    digest      TEXT    NOT NULL REFERENCES blob (digest),
    created_at  BIGINT  NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX oci_repository_blob_digest ON oci_repository_blob (digest);

-- A manifest of a repository; its bytes, exactly as pushed, are the blob `digest`.
CREATE TABLE oci_manifest (
    repository    TEXT    NOT NULL REFERENCES oci_repository (name),
    digest        TEXT    NOT NULL REFERENCES blob (digest),
    media_type    TEXT    NOT NULL,             -- served as Content-Type whatever Accept says
    artifact_type TEXT,                         -- artifactType, else config.mediaType (referrers)
    subject       TEXT,                         -- subject digest; may name no stored manifest
    annotations   TEXT,                         -- the annotations object as JSON (referrers)
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX oci_manifest_digest ON oci_manifest (digest);
CREATE INDEX oci_manifest_subject ON oci_manifest (repository, subject);

-- What a manifest references: its config and layers (blobs of the repository)
-- and an index's child manifests. Garbage collection follows these; a layer
-- with `urls` that is not stored has no row.
CREATE TABLE oci_manifest_reference (
    repository  TEXT    NOT NULL,
    manifest    TEXT    NOT NULL,
    digest      TEXT    NOT NULL REFERENCES blob (digest),
    kind        TEXT    NOT NULL CHECK (kind IN ('config', 'layer', 'manifest')),
    PRIMARY KEY (repository, manifest, digest),
    FOREIGN KEY (repository, manifest) REFERENCES oci_manifest (repository, digest) ON DELETE CASCADE
);
CREATE INDEX oci_manifest_reference_digest ON oci_manifest_reference (digest);

-- Tags. A push moves a tag in one statement (last writer wins, never torn).
CREATE TABLE oci_tag (
    repository  TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    manifest    TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL,
    checked_at  BIGINT,                         -- mirror: last revalidated upstream (pull-through)
    PRIMARY KEY (repository, tag),
    FOREIGN KEY (repository, manifest) REFERENCES oci_manifest (repository, digest) ON DELETE CASCADE
);
CREATE INDEX oci_tag_manifest ON oci_tag (repository, manifest);

-- Blob uploads in progress. The bytes are in <data>/tmp/uploads/<id>
-- (airlock_core::upload); `received` is the durable offset: bytes past it
-- are dropped by the next append. Sessions idle past [oci] upload_expiry go.
CREATE TABLE oci_upload (
    id          TEXT    NOT NULL PRIMARY KEY,
    repository  TEXT    NOT NULL,
    received    BIGINT  NOT NULL,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL
);
