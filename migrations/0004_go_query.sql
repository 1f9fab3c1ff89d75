-- Go module proxy: what a query (`<module>/@v/<query>.info` for a branch, a
-- commit prefix, `v1.2.3+meta`, or `v2.0.0` on a path without `/v2`) resolved
-- to the last time an upstream or an imported module tree answered it. Offline,
-- the same query resolves to the same version while that version is stored.
-- No blob: the answer's `.info` is stored as the version's own `.info` file.
CREATE TABLE go_query (
    module      TEXT    NOT NULL,               -- unescaped module path
    query       TEXT    NOT NULL,               -- as the client sent it, unescaped
    version     TEXT    NOT NULL,               -- the canonical version it resolved to
    origin      TEXT    NOT NULL,               -- upstream URL or import source
    updated_at  BIGINT  NOT NULL,               -- unix seconds
    PRIMARY KEY (module, query)
);
