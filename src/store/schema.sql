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
--   and minor version), '<glob>/PATTERN' (the files a declared glob matches),
--   '<snapshot>/FILE::NAME' (a test's entries in a syrupy amber file, with the text outside
--   entries), and '<always>' (tests that always run; never current). Their stat columns are 0.
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
-- Older versions stay while a test still depends on them. AUTOINCREMENT: an id is never reused,
-- so a writer that caches ids (see below) learns of every row added since it last looked with
-- `WHERE id > last seen` alone.
CREATE TABLE block (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id  INTEGER NOT NULL REFERENCES file (id),
    -- '<module>', a function's qualified name ('Order.total'), or a binding ('=TIMEOUT').
    name     TEXT NOT NULL,
    checksum INTEGER NOT NULL
);
-- No index at all (an index on file_id took a third of the space of the table itself): a
-- writer reads the whole table once into memory, then, in each write transaction, only the rows
-- added since (and all of it again when the row count shows that some were deleted), and checks
-- there before inserting, so (file_id, name, checksum) stays unique; readers that need the
-- blocks of some files get them all in one scan.

-- Every test the baseline knows. WITHOUT ROWID: the node id is the key, stored once rather than
-- in the row and again in a UNIQUE index.
CREATE TABLE test (
    -- pytest's node id. A test of a run variant (ini diff_env) other than the default is stored
    -- as '<variant>' || char(31) || '<node id>': variants share files and blocks, not tests.
    nodeid   TEXT PRIMARY KEY,
    -- The file pytest collects the test from, so unaffected files are not even collected. NULL
    -- when it is the part of `nodeid` before the first '::', as it nearly always is.
    file     TEXT,
    -- 0 'passed', 1 'skipped' (xfail included), 2 'failed', 3 'pending' (collected, never
    -- finished), or 4 'owed' (merged from a database that did not know a file that may affect
    -- it, see merge.rs). Failed, pending and owed tests are selected on every run until they
    -- pass. A number rather than the word: SQLite stores 0 and 1 in no bytes at all.
    outcome  INTEGER NOT NULL,
    -- Milliseconds spent in setup, call and teardown, rounded. An INTEGER, as `recorded`: SQLite
    -- stores a small integer in 0 to 4 bytes, a REAL always in 8.
    duration_ms INTEGER NOT NULL DEFAULT 0,
    -- When this record was written (unix seconds, whole); NULL for a test that has not run yet.
    -- When databases are merged, a test keeps its most recent record.
    recorded INTEGER,
    -- The ids of the block versions this test alone depends on (what it executed, the bindings
    -- its code mentions), ascending, as varint-encoded runs of consecutive ids (`encode_ids` in
    -- store/ids.rs). There is no block → test index: selection decodes these blobs (a few
    -- dozen bytes per test) only when some block changed, which costs milliseconds even for
    -- 20,000 tests, while an index would triple the database.
    deps     BLOB NOT NULL DEFAULT x'',
    -- The dependencies it shares with every test that imports the same modules (see `depset`);
    -- NULL for a test that has not run yet.
    depset_id INTEGER REFERENCES depset (id)
) WITHOUT ROWID;

-- A set of block versions shared by many tests: the import-time part of their dependencies
-- (`<module>` blocks of their import closure, bindings mentioned by import-time code, functions
-- that ran at import time or keep state), plus the `<data>` blocks of the facts every test
-- depends on ('<config>/ini', '<config>/plugins', '<python>') when the test carries all three
-- (a test that carries only some keeps them in its own `deps`). Tests of one file usually share
-- one set, so it is stored once instead of once per test.
CREATE TABLE depset (
    id     INTEGER PRIMARY KEY,
    -- FNV-1a of `blocks`, to find an equal set; equal hashes are confirmed by comparing blobs.
    hash   INTEGER NOT NULL,
    -- Block version ids, ascending, as in `test.deps`.
    blocks BLOB NOT NULL
);
CREATE INDEX depset_hash ON depset (hash);
