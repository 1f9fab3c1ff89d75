-- A hosted repository's snapshots no longer copy every package into
-- yum_snapshot_file (a publish that added one RPM to 500 wrote 501 rows and
-- dropped as many from an expired snapshot). A snapshot records the package
-- generation it was built from, and serves the packages of yum_package that
-- were added at or before that generation and not deleted at or before it.
-- A deleted package's row therefore stays, marked, while a published
-- snapshot that lists it is kept (the grace period); the publish that
-- expires the last such snapshot removes the row.
ALTER TABLE yum_snapshot ADD COLUMN generation BIGINT;  -- hosted snapshots; NULL for mirrors

-- yum_package is rebuilt rather than altered: added columns go to the end of
-- a row, after the XML fragments, which SQLite keeps on overflow pages, so
-- every query that filters on the generations would read each package's XML.
-- Here the fragments come last.
CREATE TABLE yum_package_shared (
    repo               TEXT    NOT NULL REFERENCES yum_repository (name),
    href               TEXT    NOT NULL,
    file_name          TEXT    NOT NULL,
    blob_digest        TEXT    NOT NULL REFERENCES blob (digest),
    size               BIGINT  NOT NULL,
    name               TEXT    NOT NULL,
    epoch              BIGINT  NOT NULL,
    version            TEXT    NOT NULL,
    release            TEXT    NOT NULL,
    arch               TEXT    NOT NULL,
    added_at           BIGINT  NOT NULL,
    added_generation   BIGINT  NOT NULL DEFAULT 0,  -- the repository's generation it was added in
    deleted_generation BIGINT,                      -- the one it was deleted in; NULL while in the repository
    primary_xml        TEXT    NOT NULL,
    filelists_xml      TEXT    NOT NULL,
    other_xml          TEXT    NOT NULL,
    PRIMARY KEY (repo, href)
);
INSERT INTO yum_package_shared (repo, href, file_name, blob_digest, size, name, epoch, version,
    release, arch, added_at, primary_xml, filelists_xml, other_xml)
SELECT repo, href, file_name, blob_digest, size, name, epoch, version,
    release, arch, added_at, primary_xml, filelists_xml, other_xml
FROM yum_package;
DROP TABLE yum_package;
ALTER TABLE yum_package_shared RENAME TO yum_package;
CREATE UNIQUE INDEX yum_package_nevra ON yum_package (repo, name, epoch, version, release, arch)
    WHERE deleted_generation IS NULL;
CREATE INDEX yum_package_blob ON yum_package (blob_digest);
CREATE INDEX yum_package_order ON yum_package (repo, file_name, href);
-- What serving, listing and counting a snapshot's packages read, without
-- the table's rows (each a page or more, with its fragments).
CREATE INDEX yum_package_file ON yum_package
    (repo, href, added_generation, deleted_generation, blob_digest, size, added_at);

-- The current snapshot of each hosted repository lists exactly the packages
-- yum_package holds: it becomes a snapshot of the published generation, and
-- its copies of the package rows go. Superseded snapshots keep their copies
-- (their generation is unknown) until they expire.
UPDATE yum_snapshot SET generation = (
    SELECT r.published_generation FROM yum_repository r
    WHERE r.name = yum_snapshot.repo AND r.current_snapshot = yum_snapshot.id AND r.kind = 'hosted')
WHERE id IN (SELECT current_snapshot FROM yum_repository WHERE kind = 'hosted');
DELETE FROM yum_snapshot_file
WHERE snapshot_id IN (SELECT current_snapshot FROM yum_repository WHERE kind = 'hosted')
  AND EXISTS (SELECT 1 FROM yum_package p JOIN yum_snapshot s ON s.repo = p.repo
              WHERE s.id = yum_snapshot_file.snapshot_id AND p.href = yum_snapshot_file.path);
