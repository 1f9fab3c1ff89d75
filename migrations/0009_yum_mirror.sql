-- Packages a YUM mirror's snapshot lists but has not stored: a mirror with
-- `on_demand = true` syncs the metadata only, and a package is fetched when a
-- client first asks for it (online mode), checked against the checksum and
-- size upstream's primary declares, stored, and recorded in
-- yum_snapshot_file. No blob column: these rows keep nothing alive.
CREATE TABLE yum_remote_file (
    snapshot_id   BIGINT  NOT NULL REFERENCES yum_snapshot (id),
    path          TEXT    NOT NULL,              -- relative to the repository
    checksum_type TEXT    NOT NULL,              -- as primary.xml declares it: sha256, sha1, …
    checksum      TEXT    NOT NULL,              -- lower-case hex
    size          BIGINT  NOT NULL,
    PRIMARY KEY (snapshot_id, path)
);
