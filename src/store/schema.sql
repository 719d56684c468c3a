-- The pytest-difftest database. Every path is relative to pytest's rootdir with '/' separators,
-- so a baseline moves between machines and operating systems.
-- Checksums and content hashes are 64-bit FNV-1a values stored as signed integers.

-- Facts about the baseline as a whole: 'created' (unix seconds), 'commit', 'tool_version'.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

-- Every file some stored block lives in. Besides Python sources (blocks from parsing):
-- * data files tests read ('data/x.json', any non-.py path), with one block '<data>' whose
--   checksum is the hash of the file's bytes, or -- when the file did not exist -- the fixed
--   value 0x6d697373696e6721 ("missing!");
-- * pseudo-files, whose path starts with '<' and which are never looked for on disk: facts
--   about the environment with one '<data>' block whose checksum is the hash of the fact's
--   value as Python computes it each run: '<dist>/NAME' (an installed distribution's version
--   and direct_url.json), '<config>/ini' (pytest's configuration section), '<config>/plugins'
--   (pytest, pluggy, plugins and their requirements, with versions), '<python>' (interpreter
--   and minor version), '<glob>/PATTERN' (the files a declared glob matches), and '<always>'
--   (tests that always run; never current). Their stat columns are 0.
CREATE TABLE file (
    id           INTEGER PRIMARY KEY,
    path         TEXT NOT NULL UNIQUE,
    -- Stat fingerprint (nanoseconds, bytes) of the contents `content_hash` was taken from: when
    -- both still match, the file is not read again.
    mtime_ns     INTEGER,
    size         INTEGER,
    -- Hash of the file's bytes the last time it was read.
    content_hash INTEGER,
    -- The content hash at which every stored block of this file is current. NULL when some test
    -- still depends on an older version of a block (it is owed a rerun), so the file must be
    -- parsed on every run until that test has run again.
    clean_hash   INTEGER
);

-- A version of a block: one row per (file, block name, checksum) that some test depends on.
-- Older versions stay while a test still depends on them.
CREATE TABLE block (
    id       INTEGER PRIMARY KEY,
    file_id  INTEGER NOT NULL REFERENCES file (id),
    -- '<module>', a function's qualified name ('Order.total'), or a binding ('=TIMEOUT').
    name     TEXT NOT NULL,
    checksum INTEGER NOT NULL,
    UNIQUE (file_id, name, checksum)
);

-- Every test the baseline knows.
CREATE TABLE test (
    id       INTEGER PRIMARY KEY,
    -- pytest's node id. A test of a run variant (ini diff_env) other than the default is stored
    -- as '<variant>' || char(31) || '<node id>': variants share files and blocks, not tests.
    nodeid   TEXT NOT NULL UNIQUE,
    -- The file pytest collects the test from, so unaffected files are not even collected.
    file     TEXT NOT NULL,
    -- 'passed', 'skipped' (xfail included), 'failed', or 'pending' (collected, never finished).
    -- Failed and pending tests are selected on every run until they pass.
    outcome  TEXT NOT NULL,
    -- Seconds spent in setup, call and teardown.
    duration REAL NOT NULL DEFAULT 0,
    -- The ids of the block versions this test alone depends on (what it executed, the bindings
    -- its code mentions), ascending, delta- and varint-encoded. The same facts as its `dep` rows;
    -- kept so that replacing a test's rows needs no index on test_id.
    deps     BLOB NOT NULL DEFAULT x'',
    -- The dependencies it shares with every test that imports the same modules (see `depset`);
    -- NULL for a test that has not run yet.
    depset_id INTEGER REFERENCES depset (id)
);
CREATE INDEX test_file ON test (file);
CREATE INDEX test_depset ON test (depset_id);

-- A set of block versions shared by many tests: the import-time part of their dependencies
-- (`<module>` blocks of their import closure, bindings mentioned by import-time code, functions
-- that ran at import time or keep state). Tests of one file usually share one set, so it is
-- stored once instead of once per test.
CREATE TABLE depset (
    id     INTEGER PRIMARY KEY,
    -- FNV-1a of `blocks`, to find an equal set; equal hashes are confirmed by comparing blobs.
    hash   INTEGER NOT NULL,
    -- Block version ids, ascending, delta- and varint-encoded.
    blocks BLOB NOT NULL
);
CREATE INDEX depset_hash ON depset (hash);

-- block version → sets that hold it (the reverse of depset.blocks), for selection.
CREATE TABLE depset_block (
    block_id  INTEGER NOT NULL,
    depset_id INTEGER NOT NULL,
    PRIMARY KEY (block_id, depset_id)
) WITHOUT ROWID;

-- block version → tests that depend on it directly: selection reads only the rows of changed
-- blocks.
CREATE TABLE dep (
    block_id INTEGER NOT NULL,
    test_id  INTEGER NOT NULL,
    PRIMARY KEY (block_id, test_id)
) WITHOUT ROWID;
