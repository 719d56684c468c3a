//! What a parsed file is made of: blocks with checksums, its imports, and the names its
//! import-time code uses. No I/O and no parsing here; `parse` builds these values.

use std::sync::{LazyLock, Mutex, PoisonError};

use crate::fasthash::FastMap;

/// The name of the block that stands for a module's import-time shape: the ordered list of its
/// top-level statements plus the full text of every statement that may have side effects.
pub use crate::block_name::MODULE as MODULE_BLOCK;

/// The one block of a non-code dependency: a data file a test read, or a pseudo-file standing for
/// a fact about the environment (`<dist>/requests`, `<config>/ini`). Its checksum is the hash of
/// the file's bytes, or of the fact's value.
pub use crate::block_name::DATA as DATA_BLOCK;

/// The checksum of a `<data>` block whose file does not exist (or whose fact has no value now):
/// a test that found a file missing is affected when it appears.
pub const MISSING_HASH: i64 = 0x6d69_7373_696e_6721;

/// Paths of pseudo-files start with this character, which no relative path pytest hands out
/// starts with; they are never looked for on disk.
pub const PSEUDO_PREFIX: char = '<';

/// A name that code mentions or binds (or a block's name), as its number in the process's table
/// of names: the same few thousand names (`self`, the project's functions, classes and
/// constants) recur in every file, and the models that hold them live for the whole session, so
/// each is stored once and a model holds 4 bytes per name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(u32);

/// Every name seen, both ways. Names are never dropped: they are a project's vocabulary, which
/// an edit only slowly extends.
#[derive(Default)]
struct Names {
    numbers: FastMap<&'static str, Name>,
    texts: Vec<&'static str>,
}

static NAMES: LazyLock<Mutex<Names>> = LazyLock::new(Mutex::default);

fn names() -> std::sync::MutexGuard<'static, Names> {
    NAMES.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Name {
    /// The name `text`, added to the table if new.
    #[must_use]
    pub fn intern(text: &str) -> Self {
        let mut names = names();
        if let Some(found) = names.numbers.get(text) {
            return *found;
        }
        let number = u32::try_from(names.texts.len()).expect("fewer than 2^32 names");
        // Lives as long as the table, which is as long as the process.
        let text: &'static str = Box::leak(text.into());
        names.texts.push(text);
        names.numbers.insert(text, Self(number));
        Self(number)
    }

    /// The name `text` if any code seen so far mentions or binds it.
    #[must_use]
    pub fn find(text: &str) -> Option<Self> {
        names().numbers.get(text).copied()
    }

    /// The text of the name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        names().texts[self.0 as usize]
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Whether `path` names a pseudo-file (an environment fact) rather than a file on disk.
#[must_use]
pub fn is_pseudo(path: &str) -> bool {
    path.starts_with(PSEUDO_PREFIX)
}

/// Whether `path` is read as Python source; any other file is a data file.
#[must_use]
pub fn is_python(path: &str) -> bool {
    path.ends_with(".py")
}

/// How a block takes part in selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// The `<module>` block of a file. Every test whose import closure holds the file depends on
    /// it.
    Module,
    /// A top-level statement that only binds names (an import, an assignment without calls, a
    /// `def` or `class` header without side-effecting decorators or bases), or one whose calls
    /// the engine follows (see `FileModel::calling`). A test depends on it
    /// when the test's code mentions one of the names it binds.
    Binding,
    /// A function or method: decorators, signature and body. A test depends on it when the test
    /// executed it, requested it as a fixture, or is it.
    Function,
}

/// `Block::stored` of a writer all of whose references count.
const ALL_STORED: u8 = u8::MAX;

/// One unit of change detection. Kept small: a baseline holds one for every block of the
/// project for the whole session.
#[derive(Clone, Debug)]
pub struct Block {
    /// Position-independent identity within the file: `<module>`, `Order.total`, `=TIMEOUT`
    /// (see `block_name`). Interned: the same names (`<module>`, `def:main`, `=__all__`) recur
    /// across files.
    pub name: Name,
    /// How the block takes part in selection.
    pub kind: BlockKind,
    /// Where `names` splits: the binds of a `Binding` block, or the references of a
    /// `Function` block, come first.
    split: u16,
    /// How many of a `Function` block's references (the first ones) are those of the code that
    /// can reach the state it writes (see `flow`); `ALL_STORED`: all of them (a byte keeps the
    /// block at 40 bytes; a writer with more is taken whole, which is only coarser).
    stored: u8,
    /// First line (1-based, decorators included).
    pub start_line: u32,
    /// Last line (inclusive).
    pub end_line: u32,
    /// See `checksum` for the stability contract.
    pub checksum: i64,
    /// A `Binding` block's binds, then its value's references; a `Function` block's
    /// references, then its writes (see `refs`): one exactly-sized slice.
    names: Box<[Name]>,
}

impl Block {
    /// A block that stands for a whole file or module shape, from line 1 to the end.
    #[must_use]
    pub fn module(name: Name, checksum: i64) -> Self {
        Self {
            name,
            kind: BlockKind::Module,
            split: 0,
            stored: 0,
            start_line: 1,
            end_line: u32::MAX,
            checksum,
            names: Box::default(),
        }
    }

    /// A `Binding` block over `lines` that binds `binds`, whose value refers to `refs`.
    #[must_use]
    pub fn binding(
        name: Name,
        lines: (u32, u32),
        checksum: i64,
        binds: &[Name],
        refs: &[Name],
    ) -> Self {
        let binds = &binds[..binds.len().min(usize::from(u16::MAX))];
        Self {
            name,
            kind: BlockKind::Binding,
            split: u16::try_from(binds.len()).unwrap_or(u16::MAX),
            stored: 0,
            start_line: lines.0,
            end_line: lines.1,
            checksum,
            names: binds.iter().chain(refs).copied().collect(),
        }
    }

    /// A `Function` block over `lines` that refers to `refs` and writes `writes` (see `refs`);
    /// the first `stored` references are those of the code that can reach what it writes.
    #[must_use]
    pub fn function(
        name: Name,
        lines: (u32, u32),
        checksum: i64,
        (refs, stored): (&[Name], usize),
        writes: &[Name],
    ) -> Self {
        // A function with more references than that is generated code; the first ones do.
        let refs = &refs[..refs.len().min(usize::from(u16::MAX))];
        let split = u16::try_from(refs.len()).unwrap_or(u16::MAX);
        Self {
            name,
            kind: BlockKind::Function,
            split,
            stored: u8::try_from(stored)
                .ok()
                .filter(|&stored| stored < ALL_STORED && u16::from(stored) < split)
                .unwrap_or(ALL_STORED),
            start_line: lines.0,
            end_line: lines.1,
            checksum,
            names: refs.iter().chain(writes).copied().collect(),
        }
    }

    /// Whether a `Function` block keeps state between calls: a cache decorator (which writes
    /// the function itself), or writes of module-level names, class attributes or attributes
    /// of a long-lived object (see `writes`), as the syntax tells. Recording asks
    /// `Engine::keeps_state`, which leaves out state the test runner sets afresh before every
    /// test (`sys.stdout` under pytest's capture).
    #[must_use]
    pub fn stateful(&self) -> bool {
        !self.writes().is_empty()
    }

    /// Names bound by a `Binding` block; empty for other kinds.
    #[must_use]
    pub fn binds(&self) -> &[Name] {
        match self.kind {
            BlockKind::Binding => &self.names[..usize::from(self.split)],
            BlockKind::Module | BlockKind::Function => &[],
        }
    }

    /// What the block's code refers to (see `refs` for the forms): a function's body, or a
    /// binding's value; empty for `<module>`.
    #[must_use]
    pub fn refs(&self) -> &[Name] {
        match self.kind {
            BlockKind::Binding => &self.names[usize::from(self.split)..],
            BlockKind::Function => &self.names[..usize::from(self.split)],
            BlockKind::Module => &[],
        }
    }

    /// The references of the code of a `Function` block that can reach the state it writes:
    /// what a later caller may get from an earlier call (see `flow`).
    #[must_use]
    pub fn stored_refs(&self) -> &[Name] {
        match self.kind {
            BlockKind::Function if self.stored == ALL_STORED => self.refs(),
            BlockKind::Function => &self.names[..usize::from(self.stored)],
            BlockKind::Module | BlockKind::Binding => &[],
        }
    }

    /// The shared state a `Function` block writes, in reference form without the `!`
    /// (`SEEN`, `self._cache`); empty for other kinds.
    #[must_use]
    pub fn writes(&self) -> &[Name] {
        match self.kind {
            BlockKind::Function => &self.names[usize::from(self.split)..],
            BlockKind::Module | BlockKind::Binding => &[],
        }
    }
}

/// An import statement, unresolved: `from ..pkg import a, b` is `{level: 2, module: "pkg",
/// names: [a, b]}`. Its texts are interned: the same modules and names are imported all over a
/// project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Import {
    /// Number of leading dots.
    pub level: u32,
    /// The dotted module after the dots, possibly empty.
    pub module: Name,
    /// For `from` imports, the imported names (which may be submodules); empty for `import x`.
    pub names: Box<[Name]>,
}

impl Import {
    /// The import of `names` from `module`, `level` dots up.
    #[must_use]
    pub fn new<'a>(level: u32, module: &str, names: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            level,
            module: Name::intern(module),
            names: names.into_iter().map(Name::intern).collect(),
        }
    }
}

/// A top-level import: what name it binds, to which module or module attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportBinding {
    /// The name bound in the importing module (`np` for `import numpy as np`).
    pub bound: Name,
    /// The module, with one leading dot per level of a relative import (`..pkg.sub`).
    pub module: Name,
    /// For `from module import attr`, the attribute (or submodule); `None` for `import`.
    pub attr: Option<Name>,
}

/// A class defined in the file, for resolving attributes through it and its bases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClassInfo {
    /// Qualified name: `Order`, `Outer.Inner`.
    pub qualname: Name,
    /// The block of the top-level class statement holding it (0, `<module>`, when that
    /// statement may have effects and is folded into the module).
    pub block: u32,
    /// Its bases, as references (see `refs`).
    pub bases: Box<[Name]>,
    /// The references that only its decorators make (sorted): code that ran when the class
    /// statement ran, not when the class is used (see `resolve`).
    pub decorators: Box<[Name]>,
    /// The names its body's assignments bind: class attributes, as opposed to the attributes
    /// each instance gets (see `Engine::import_writes`).
    pub attributes: Box<[Name]>,
}

/// Everything selection and recording need to know about one file's current contents.
#[derive(Clone, Debug)]
pub struct FileModel {
    /// Hash of the raw bytes.
    pub content_hash: i64,
    /// Blocks in source order; `blocks[0]` is always the `<module>` block.
    pub blocks: Vec<Block>,
    /// Every import statement anywhere in the file, including inside functions.
    pub imports: Vec<Import>,
    /// What the module-level code that may have effects refers to (statements folded into
    /// `<module>`: calls, `if` blocks, decorators that may register...), as references (see
    /// `refs`); sorted, each once. Binding statements keep their references in their blocks.
    pub import_uses: Box<[Name]>,
    /// The module's namespace: each name a top-level statement binds, with the index of that
    /// statement's block (0 when the statement is folded into `<module>`); sorted by name, a
    /// name bound by several statements once per statement.
    pub bindings: Box<[(Name, u32)]>,
    /// The top-level imports (also those inside top-level `if` and `try` blocks).
    pub import_bindings: Box<[ImportBinding]>,
    /// The modules of top-level `from module import *` statements.
    pub star_imports: Box<[Name]>,
    /// The line of each of those statements (they are module code, with no block of their
    /// own: what a star import binds is known only when it runs).
    pub star_import_lines: Box<[u32]>,
    /// Every class, nested ones included.
    pub classes: Box<[ClassInfo]>,
    /// The `def`, `class` and assignment statements that call what may have effects (a
    /// decorator that is not known to be harmless, a base that may run `__init_subclass__`, a
    /// call in a default, `add = Wrapped(_add)`):
    /// the index of the statement's block, with what it calls as references (`register`,
    /// `app.route`, `Base`). Where all of it is project code, the engine follows its effects
    /// and the statement counts like any binding; else every importer depends on it, as on
    /// the module's code. Sorted by block.
    pub calling: Box<[(u32, Box<[Name]>)]>,
    /// Why the file could not be parsed. Such a file is a single `<module>` block whose checksum
    /// is the hash of its bytes, so any edit selects every test that imports it.
    pub parse_error: Option<String>,
}

impl FileModel {
    /// A file that could not be read as Python.
    #[must_use]
    pub fn unparsable(content_hash: i64, reason: String) -> Self {
        Self::whole(MODULE_BLOCK, content_hash, Some(reason))
    }

    /// A data file (or fact): one `<data>` block whose checksum is `content_hash`.
    #[must_use]
    pub fn data(content_hash: i64) -> Self {
        Self::whole(DATA_BLOCK, content_hash, None)
    }

    /// A file that is one block, `name`, whose checksum is the file's `content_hash`.
    fn whole(name: &str, content_hash: i64, parse_error: Option<String>) -> Self {
        Self {
            content_hash,
            blocks: vec![Block::module(Name::intern(name), content_hash)],
            imports: Vec::new(),
            import_uses: Box::default(),
            bindings: Box::default(),
            import_bindings: Box::default(),
            star_imports: Box::default(),
            star_import_lines: Box::default(),
            classes: Box::default(),
            calling: Box::default(),
            parse_error,
        }
    }

    /// The checksum the block `name` has now: `<data>` is any file's whole contents (a data
    /// file's one block, or a Python file a test read as text), other names are blocks of
    /// the file.
    #[must_use]
    pub fn checksum_of(&self, name: &str) -> Option<i64> {
        if name == DATA_BLOCK {
            return Some(self.content_hash);
        }
        let name = Name::find(name)?;
        self.blocks
            .iter()
            .find(|block| block.name == name)
            .map(|block| block.checksum)
    }

    /// The indexes of the blocks of the statements that bind `name` at the top level.
    pub fn binders(&self, name: Name) -> impl Iterator<Item = usize> + '_ {
        let start = self.bindings.partition_point(|(bound, _)| *bound < name);
        self.bindings[start..]
            .iter()
            .take_while(move |(bound, _)| *bound == name)
            .map(|(_, block)| *block as usize)
    }

    /// Whether block `index` is one of the calling statements (see `calling`).
    #[must_use]
    pub fn is_calling(&self, index: usize) -> bool {
        self.calling
            .binary_search_by_key(&index, |(block, _)| *block as usize)
            .is_ok()
    }

    /// The class of that qualified name.
    #[must_use]
    pub fn class(&self, qualname: Name) -> Option<&ClassInfo> {
        self.classes.iter().find(|class| class.qualname == qualname)
    }

    /// The block of the function or method of that qualified name.
    #[must_use]
    pub fn function(&self, qualname: Name) -> Option<&Block> {
        self.blocks
            .iter()
            .find(|block| block.kind == BlockKind::Function && block.name == qualname)
    }

    /// The index of the top-level statement's block that holds `line` (a binding, a `def`
    /// or `class` statement), else 0: the `<module>` block.
    #[must_use]
    pub fn statement_at_line(&self, line: u32) -> usize {
        self.blocks
            .iter()
            .enumerate()
            .filter(|(_, block)| {
                block.kind == BlockKind::Binding
                    && block.start_line <= line
                    && line <= block.end_line
            })
            .min_by_key(|(_, block)| block.end_line - block.start_line)
            .map_or(0, |(index, _)| index)
    }

    /// The index of the block that owns `line`: the innermost function, else the binding
    /// statement around it, else the `<module>` block.
    #[must_use]
    pub fn block_at_line(&self, line: u32) -> usize {
        let mut best: Option<usize> = None;
        for (index, block) in self.blocks.iter().enumerate().skip(1) {
            if block.start_line <= line && line <= block.end_line {
                let better = match best {
                    None => true,
                    Some(current) => {
                        let current = &self.blocks[current];
                        // Prefer functions over bindings, then the narrower span.
                        (block.kind == BlockKind::Function && current.kind != BlockKind::Function)
                            || (block.kind == current.kind
                                && block.end_line - block.start_line
                                    < current.end_line - current.start_line)
                    }
                };
                if better {
                    best = Some(index);
                }
            }
        }
        best.unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_small() {
        // A baseline keeps every block of the project for the whole session (86,559 blocks on
        // the large benchmark); this was 96 bytes with a `String` name and two `Vec`s.
        assert!(size_of::<Block>() <= 40, "{}", size_of::<Block>());
    }

    #[test]
    fn a_block_has_the_names_of_its_kind_only() {
        let names = [Name::intern("a"), Name::intern("b")];
        let refs = [Name::intern("x")];
        let binding = Block::binding(Name::intern("=a,b"), (1, 1), 0, &names, &refs);
        assert_eq!(binding.binds(), ["a", "b"]);
        assert_eq!(binding.refs(), ["x"]);
        assert!(binding.writes().is_empty());
        let function = Block::function(Name::intern("f"), (2, 3), 0, (&names, 1), &refs);
        assert_eq!(function.refs(), ["a", "b"]);
        assert_eq!(function.stored_refs(), ["a"]);
        assert_eq!(function.writes(), ["x"]);
        assert!(function.stateful());
        assert!(function.binds().is_empty());
        let module = Block::module(Name::intern(MODULE_BLOCK), 0);
        assert!(module.binds().is_empty() && module.refs().is_empty());
    }
}
