//! The grammar of block names: how a block is named within its file (`block.name` in the
//! database). `parse` builds names only through the constructors here, and every reader (the
//! record's closure, `inspect`, Python through `StoredBlock.kind`) reads them through `parse`
//! here, so this is the one place that says what a name means.
//!
//! ```text
//! name      := "<module>"                the file's import-time shape (see block.rs)
//!            | "<data>"                  the contents of a data file or a fact's value
//!            | function                  a function or method: decorators, signature, body
//!            | binding                   a top-level statement that only binds names
//!            | other "#" N               the Nth statement with an equal name (N >= 2)
//! function  := qualified                 `f`, `Order.total`, `Outer.Inner.method`
//! binding   := "def:" NAME               the header of a top-level function (decorators,
//!                                        signature): what running its `def` does
//!            | "class:" NAME             a class statement whose body runs no code but defs
//!            | "import:" NAMES           `import a, b.c as d` binds `a,d`
//!            | "from:" NAMES             `from m import x, y as z` binds `x,z`
//!            | "=" NAMES                 an assignment without calls: `TIMEOUT = 5` is
//!                                        `=TIMEOUT`; a module docstring is `=__doc__`
//!            | "call:" NAMES             a bare call of named code: `reg.fill(x)` is
//!                                        `call:reg.fill`; it binds nothing
//! NAMES     := NAME ("," NAME)*          the names bound, in order
//! ```
//!
//! Other statements (calls of what has no name, `if` blocks, annotations without a value) have no
//! block: their keys (`<stmt>`, `<annotation>`) only enter the `<module>` shape.

/// The block of a module's import-time shape.
pub const MODULE: &str = "<module>";

/// The one block of a data file or pseudo-file.
pub const DATA: &str = "<data>";

/// The shape key of a top-level statement that binds nothing it can be trusted to (it may run
/// code): part of `<module>` only.
pub const STATEMENT: &str = "<stmt>";

/// The shape key of an annotation without a value (`x: int`): part of `<module>` only.
pub const ANNOTATION: &str = "<annotation>";

/// What `globals().update(...)` binds: any name of its module (`=*` is its block).
pub const NAMESPACE: &str = "*";

const DEF: &str = "def:";
const CLASS: &str = "class:";
const IMPORT: &str = "import:";
const FROM: &str = "from:";
const ASSIGN: &str = "=";
const CALL: &str = "call:";

/// What a block name says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockName<'a> {
    Module,
    Data,
    /// A function or method, by qualified name (`Order.total`), without the `#N` suffix.
    Function(&'a str),
    /// The header of the top-level function of that name.
    DefHeader(&'a str),
    /// A class statement (the class's name).
    Class(&'a str),
    /// An `import` statement (the names it binds, comma-separated).
    Import(&'a str),
    /// A `from ... import` statement (the names it binds, comma-separated).
    From(&'a str),
    /// An assignment (the names it binds, comma-separated).
    Assign(&'a str),
    /// A bare call (what it calls, comma-separated).
    Call(&'a str),
    /// A shape key (`<stmt>`, `<annotation>`) or a name this version does not write.
    Other(&'a str),
}

impl<'a> BlockName<'a> {
    /// Reads a block name.
    #[must_use]
    pub fn parse(name: &'a str) -> Self {
        let name = name.split_once('#').map_or(name, |(base, _)| base);
        if name == MODULE {
            Self::Module
        } else if name == DATA {
            Self::Data
        } else if let Some(rest) = name.strip_prefix(DEF) {
            Self::DefHeader(rest)
        } else if let Some(rest) = name.strip_prefix(CLASS) {
            Self::Class(rest)
        } else if let Some(rest) = name.strip_prefix(IMPORT) {
            Self::Import(rest)
        } else if let Some(rest) = name.strip_prefix(FROM) {
            Self::From(rest)
        } else if let Some(rest) = name.strip_prefix(ASSIGN) {
            Self::Assign(rest)
        } else if let Some(rest) = name.strip_prefix(CALL) {
            Self::Call(rest)
        } else if name.starts_with('<') || name.is_empty() {
            Self::Other(name)
        } else {
            Self::Function(name)
        }
    }

    /// The kind of block, as `inspect` and Python show it: `module`, `data`, `function`,
    /// `binding` or `other`.
    #[must_use]
    pub fn kind(self) -> &'static str {
        match self {
            Self::Module => "module",
            Self::Data => "data",
            Self::Function(_) => "function",
            Self::DefHeader(_)
            | Self::Class(_)
            | Self::Import(_)
            | Self::From(_)
            | Self::Assign(_)
            | Self::Call(_) => "binding",
            Self::Other(_) => "other",
        }
    }

    /// A function's own name, the last part of its qualified name (`total` of `Order.total`):
    /// the name code calls it by.
    #[must_use]
    pub fn short_function_name(self) -> Option<&'a str> {
        match self {
            Self::Function(qualified) => qualified.rsplit('.').next(),
            _ => None,
        }
    }
}

/// The name of a function or method block: `prefix` is the qualified name of its class with a
/// trailing dot (`Order.`), or empty.
#[must_use]
pub fn function(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

/// The qualified-name prefix of the members of class `name` inside `prefix`.
#[must_use]
pub fn class_prefix(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}.")
}

/// The binding block of a top-level function's header.
#[must_use]
pub fn def_header(name: &str) -> String {
    format!("{DEF}{name}")
}

/// The function block whose header the block `name` is (`f#2` of `def:f#2`), if it is one.
#[must_use]
pub fn header_function(name: &str) -> Option<&str> {
    name.strip_prefix(DEF)
}

/// The binding block of a class statement.
#[must_use]
pub fn class(name: &str) -> String {
    format!("{CLASS}{name}")
}

/// The binding block of an `import` statement binding `binds`.
#[must_use]
pub fn import(binds: &[String]) -> String {
    format!("{IMPORT}{}", binds.join(","))
}

/// The binding block of a `from ... import` statement binding `binds`.
#[must_use]
pub fn from_import(binds: &[String]) -> String {
    format!("{FROM}{}", binds.join(","))
}

/// The binding block of an assignment binding `binds` (`=__doc__` for a module docstring).
#[must_use]
pub fn assign(binds: &[String]) -> String {
    format!("{ASSIGN}{}", binds.join(","))
}

/// The block of a bare call of `callees`.
#[must_use]
pub fn call(callees: &[String]) -> String {
    format!("{CALL}{}", callees.join(","))
}

/// The `count`th (from 2) statement or function whose name would be `name`: names stay unique
/// within a file, and stable while the order of equal names does not change.
#[must_use]
pub fn repeated(name: &str, count: u32) -> String {
    format!("{name}#{count}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_name_reads_back() {
        let binds = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            BlockName::parse(&def_header("f")),
            BlockName::DefHeader("f")
        );
        assert_eq!(BlockName::parse(&class("C")), BlockName::Class("C"));
        assert_eq!(BlockName::parse(&import(&binds)), BlockName::Import("a,b"));
        assert_eq!(
            BlockName::parse(&from_import(&binds)),
            BlockName::From("a,b")
        );
        assert_eq!(BlockName::parse(&assign(&binds)), BlockName::Assign("a,b"));
        assert_eq!(BlockName::parse(&call(&binds)), BlockName::Call("a,b"));
        let method = function(&class_prefix(&class_prefix("", "Outer"), "Inner"), "run");
        assert_eq!(
            BlockName::parse(&method),
            BlockName::Function("Outer.Inner.run")
        );
        assert_eq!(BlockName::parse(&method).short_function_name(), Some("run"));
        assert_eq!(
            BlockName::parse(&repeated("C.x", 2)),
            BlockName::Function("C.x")
        );
        assert_eq!(BlockName::parse(MODULE), BlockName::Module);
        assert_eq!(BlockName::parse(DATA), BlockName::Data);
        assert_eq!(BlockName::parse(STATEMENT).kind(), "other");
        assert_eq!(BlockName::parse("=__doc__").kind(), "binding");
    }
}
