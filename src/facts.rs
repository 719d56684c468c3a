//! Pseudo-files: facts about the environment, stored like files whose one `<data>` block's
//! checksum is the hash of the fact's value (see `file` in schema.sql). Python computes the
//! values; these names are the ones both sides use (exported through `_core`).

/// pytest's configuration section.
pub const CONFIG_INI: &str = "<config>/ini";

/// pytest, pluggy, the installed plugins and their requirements, with versions.
pub const CONFIG_PLUGINS: &str = "<config>/plugins";

/// The interpreter and its minor version.
pub const PYTHON: &str = "<python>";

/// The facts Python gives every test: a change in one selects everything. A test that carries
/// them all has them in its shared set, stored once, rather than in its own list.
pub const GLOBAL_FACTS: [&str; 3] = [CONFIG_INI, CONFIG_PLUGINS, PYTHON];

/// The pseudo-file of tests that must always run; its stored checksum is never current.
pub const ALWAYS: &str = "<always>";
