-- YUM repositories at /yum. A repository is a named path ("internal/tools"),
-- hosted (takes uploads; airlock writes its repodata) or mirror (copied from an
-- upstream by a sync). Clients see one complete *snapshot* of it at a time.

CREATE TABLE yum_repository (
    name                 TEXT    NOT NULL PRIMARY KEY,  -- path under /yum/, no leading or trailing '/'
    kind                 TEXT    NOT NULL CHECK (kind IN ('hosted', 'mirror')),
    -- The snapshot clients see (yum_snapshot.id); NULL before the first publish.
    -- Switching it is the one-row update that publishes a new snapshot.
    current_snapshot     BIGINT,
    -- Bumped by every change to the package set; a snapshot built from an older
    -- generation than the published one never replaces it.
    generation           BIGINT  NOT NULL DEFAULT 0,
    published_generation BIGINT  NOT NULL DEFAULT -1,
    created_at           BIGINT  NOT NULL
);

-- The packages of a hosted repository, with the metadata derived from their
-- headers, so that republishing only concatenates stored fragments.
CREATE TABLE yum_package (
    repo          TEXT    NOT NULL REFERENCES yum_repository (name),
    href          TEXT    NOT NULL,              -- location href, relative to the repository
    file_name     TEXT    NOT NULL,              -- last segment of href: the metadata sort key
    blob_digest   TEXT    NOT NULL REFERENCES blob (digest),  -- the .rpm; its hex is the pkgid
    size          BIGINT  NOT NULL,
    name          TEXT    NOT NULL,
    epoch         BIGINT  NOT NULL,
    version       TEXT    NOT NULL,
    release       TEXT    NOT NULL,
    arch          TEXT    NOT NULL,
    primary_xml   TEXT    NOT NULL,              -- its <package> in primary.xml
    filelists_xml TEXT    NOT NULL,              -- … in filelists.xml
    other_xml     TEXT    NOT NULL,              -- … in other.xml
    added_at      BIGINT  NOT NULL,              -- <time file>
    PRIMARY KEY (repo, href)
);
CREATE UNIQUE INDEX yum_package_nevra ON yum_package (repo, name, epoch, version, release, arch);
CREATE INDEX yum_package_blob ON yum_package (blob_digest);
CREATE INDEX yum_package_order ON yum_package (repo, file_name, href);

-- A complete set of files of a repository: repodata/repomd.xml, the metadata
-- files it lists and the packages. A snapshot is filled first and published
-- (yum_repository.current_snapshot) only when every file is stored. A superseded
-- snapshot stays servable for the grace period, so a client that read the old
-- repomd.xml finds the files it lists.
CREATE TABLE yum_snapshot (
    id            BIGINT  NOT NULL PRIMARY KEY,
    repo          TEXT    NOT NULL REFERENCES yum_repository (name),
    created_at    BIGINT  NOT NULL,
    published_at  BIGINT,                        -- NULL while it is being filled (a sync)
    superseded_at BIGINT                         -- when a newer snapshot replaced it
);
CREATE INDEX yum_snapshot_repo ON yum_snapshot (repo, superseded_at);

CREATE TABLE yum_snapshot_file (
    snapshot_id   BIGINT  NOT NULL REFERENCES yum_snapshot (id),
    path          TEXT    NOT NULL,              -- relative to the repository
    blob_digest   TEXT    NOT NULL REFERENCES blob (digest),
    size          BIGINT  NOT NULL,
    modified_at   BIGINT  NOT NULL,              -- Last-Modified, unix seconds
    PRIMARY KEY (snapshot_id, path)
);
CREATE INDEX yum_snapshot_file_blob ON yum_snapshot_file (blob_digest);
