//! The crate's one error type. `python.rs` turns it into Python exceptions in one place.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong in the core.
#[derive(Debug)]
pub enum Error {
    /// Reading or writing a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite failed on the database at `path` (corrupt, locked, not a database, read-only).
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
    /// A database given to merge cannot be used: not ours, another schema version, damaged,
    /// or holding what this version never writes.
    Input { path: PathBuf, reason: String },
    /// The database holds what this version never writes (a schema object of someone else's,
    /// a path outside the project, a malformed id list): someone else wrote it, or it is
    /// damaged. Nothing in it is used.
    Untrusted { path: PathBuf, reason: String },
    /// A test declares a dependency that cannot be stored (outside the project).
    Declared(String),
    /// The database was written by a different schema version.
    SchemaMismatch {
        path: PathBuf,
        found: i64,
        expected: i64,
    },
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Db { path, source } if is_circumstance(source) => {
                write!(f, "{}: database error: {source}", path.display())
            }
            Self::Db { path, source } => write!(
                f,
                "{}: database error: {source} (run with --diff-force to rebuild it)",
                path.display()
            ),
            Self::Input { path, reason } => {
                write!(f, "{}: cannot merge: {reason}", path.display())
            }
            Self::Untrusted { path, reason } => write!(
                f,
                "{}: {reason} (run with --diff-force to rebuild it)",
                path.display()
            ),
            Self::Declared(what) => write!(f, "{what}"),
            Self::SchemaMismatch {
                path,
                found,
                expected,
            } => write!(
                f,
                "{}: database schema version {found}, this version of pytest-difftest uses \
                 {expected} (run with --diff-force to rebuild it)",
                path.display()
            ),
        }
    }
}

/// Whether SQLite failed because of where the database is (a full disk, a read-only file or
/// directory, a lock held too long) rather than what the file holds: rebuilding it would not
/// help, so the message does not suggest it.
fn is_circumstance(error: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{
        CannotOpen, DatabaseBusy, DatabaseLocked, DiskFull, OutOfMemory, PermissionDenied,
        ReadOnly, SystemIoFailure,
    };
    matches!(
        error.sqlite_error_code(),
        Some(
            CannotOpen
                | DatabaseBusy
                | DatabaseLocked
                | DiskFull
                | OutOfMemory
                | PermissionDenied
                | ReadOnly
                | SystemIoFailure
        )
    )
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Db { source, .. } => Some(source),
            Self::SchemaMismatch { .. }
            | Self::Input { .. }
            | Self::Untrusted { .. }
            | Self::Declared(_) => None,
        }
    }
}
