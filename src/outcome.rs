//! A test's outcome as the database stores it: a small number (see `test.outcome` in
//! schema.sql), and the outcomes selection reruns.

/// The outcome of a test whose record predates files another input of a merge knows: it must
/// run again (see merge.rs).
pub const OWED: &str = "owed";

/// Test outcomes by their stored code (see `test.outcome` in schema.sql).
const OUTCOMES: [&str; 5] = ["passed", "skipped", "failed", "pending", OWED];

/// The stored code of an outcome. An outcome this version does not know is stored as failed:
/// the test then runs again rather than being trusted.
pub(crate) fn outcome_code(outcome: &str) -> i64 {
    let code = OUTCOMES.iter().position(|known| *known == outcome);
    i64::try_from(code.unwrap_or(2)).unwrap_or(2)
}

/// The outcome a stored code stands for; an unknown code (a database written by a newer
/// development build) reads as failed, for the same reason.
pub(crate) fn outcome_name(code: i64) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|index| OUTCOMES.get(index))
        .map_or("failed", |name| name)
}
