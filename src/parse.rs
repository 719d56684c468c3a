//! Python source → `FileModel`. The only module that knows the Python parser crate.
//!
//! Blocks, and why they are cut this way:
//! * every function and method (not functions nested in functions, which belong to their
//!   enclosing function) is a `Function` block covering decorators, signature and body;
//! * every top-level statement that only binds names is a `Binding` block, so that a test that
//!   reads `TIMEOUT` does not depend on `RETRIES` in the same file;
//! * everything else at module level (calls, `if`/`try`/`for` blocks, star imports, classes with
//!   bases that may run `__init_subclass__` or a metaclass, decorators that may register things)
//!   may have effects that no name lookup reveals, so it is folded, with the ordered list of all
//!   statements, into the file's single `<module>` block, on which every importer depends.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use ruff_python_ast::token::{Token, TokenKind};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, PySourceType, Stmt};
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::block::{Block, FileModel, Import, MODULE_BLOCK, Name};
use crate::block_name;
use crate::checksum::{Fnv64, hash_bytes, hash_tokens};
use crate::effects::{has_effects, is_pure_class, is_pure_decorator, is_stateful};

/// Parses `bytes` (a file's contents) into a model. Never panics: a file that is not UTF-8, does
/// not parse, or trips the parser becomes a single opaque block.
#[must_use]
pub fn parse_bytes(bytes: &[u8]) -> FileModel {
    let content_hash = hash_bytes(bytes);
    let Ok(source) = std::str::from_utf8(bytes) else {
        return FileModel::unparsable(content_hash, "not valid UTF-8".to_owned());
    };
    match catch_unwind(AssertUnwindSafe(|| parse_source(source, content_hash))) {
        Ok(model) => model,
        Err(_) => FileModel::unparsable(content_hash, "the parser failed on this file".to_owned()),
    }
}

fn parse_source(source: &str, content_hash: i64) -> FileModel {
    let parsed = parse_unchecked_source(source, PySourceType::Python);
    if let Some(error) = parsed.errors().first() {
        let line = LineIndex::new(source).line_of(error.location.start());
        return FileModel::unparsable(
            content_hash,
            format!("syntax error on line {line}: {}", error.error),
        );
    }
    let mut builder = ModelBuilder {
        source,
        tokens: parsed.tokens(),
        lines: LineIndex::new(source),
        blocks: Vec::new(),
        shape: Fnv64::default(),
        import_uses: HashSet::new(),
        seen_names: HashMap::new(),
    };
    let body = &parsed.syntax().body;
    for (index, stmt) in body.iter().enumerate() {
        builder.top_level(stmt, index == 0);
    }
    let mut imports = ImportCollector::default();
    imports.visit_body(body);
    let module = Block::module(Name::intern(MODULE_BLOCK), builder.shape.finish());
    let mut import_uses: Vec<Name> = builder.import_uses.into_iter().collect();
    import_uses.sort_unstable();
    let mut blocks = Vec::with_capacity(builder.blocks.len() + 1);
    blocks.push(module);
    blocks.append(&mut builder.blocks);
    FileModel {
        content_hash,
        blocks,
        imports: imports.imports,
        import_uses: import_uses.into_boxed_slice(),
        parse_error: None,
    }
}

/// Byte offset → 1-based line number.
struct LineIndex {
    starts: Vec<TextSize>,
}

impl LineIndex {
    fn new(source: &str) -> Self {
        let mut starts = vec![TextSize::new(0)];
        for (offset, byte) in source.bytes().enumerate() {
            if byte == b'\n' {
                starts.push(TextSize::try_from(offset + 1).unwrap_or(TextSize::new(u32::MAX)));
            }
        }
        Self { starts }
    }

    fn line_of(&self, offset: TextSize) -> u32 {
        u32::try_from(self.starts.partition_point(|&start| start <= offset)).unwrap_or(u32::MAX)
    }
}

struct ModelBuilder<'a> {
    source: &'a str,
    tokens: &'a [Token],
    lines: LineIndex,
    blocks: Vec<Block>,
    /// Hash of the ordered statement list plus the text of every non-binding statement.
    shape: Fnv64,
    import_uses: HashSet<Name>,
    /// How often a block name was used, to give repeated names (`@property` / `@x.setter`) a
    /// stable `#2` suffix.
    seen_names: HashMap<String, u32>,
}

impl<'a> ModelBuilder<'a> {
    fn top_level(&mut self, stmt: &'a Stmt, first: bool) {
        match stmt {
            Stmt::FunctionDef(function) => {
                self.function(function, "");
                let header = header_range(function);
                let pure = function
                    .decorator_list
                    .iter()
                    .all(|d| is_pure_decorator(&d.expression))
                    && !function
                        .parameters
                        .iter_non_variadic_params()
                        .any(|p| p.default.as_deref().is_some_and(has_effects));
                self.statement(
                    stmt,
                    &block_name::def_header(&function.name),
                    vec![function.name.to_string()],
                    pure,
                    header,
                    &[function.name.range],
                );
            }
            Stmt::ClassDef(class) => {
                let mut holes = Vec::new();
                self.class(class, "", &mut holes);
                let pure = is_pure_class(class);
                let mut excluded = holes.clone();
                excluded.push(class.name.range);
                self.statement_with_holes(
                    stmt,
                    &block_name::class(&class.name),
                    vec![class.name.to_string()],
                    pure,
                    class.range,
                    &holes,
                    &excluded,
                );
            }
            Stmt::Import(import) => {
                let binds = import
                    .names
                    .iter()
                    .map(|alias| match &alias.asname {
                        Some(asname) => asname.to_string(),
                        None => alias.name.split('.').next().unwrap_or_default().to_owned(),
                    })
                    .collect::<Vec<_>>();
                let key = block_name::import(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), &[stmt.range()]);
            }
            Stmt::ImportFrom(import) if !import.names.iter().any(|alias| &alias.name == "*") => {
                let binds = import
                    .names
                    .iter()
                    .map(|alias| alias.asname.as_ref().unwrap_or(&alias.name).to_string())
                    .collect::<Vec<_>>();
                // Importing a name reads it from the other module: count the original names as
                // uses, so tests that import this module depend on those bindings there.
                for alias in &import.names {
                    self.import_uses.insert(Name::intern(alias.name.as_str()));
                }
                let key = block_name::from_import(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), &[stmt.range()]);
            }
            Stmt::Assign(ast::StmtAssign { targets, value, .. }) => {
                let binds = targets.iter().map(bound_names).collect::<Option<Vec<_>>>();
                self.assignment(
                    stmt,
                    binds.map(|names| names.concat()),
                    value,
                    targets.iter().map(Ranged::range).collect(),
                );
            }
            Stmt::AnnAssign(ast::StmtAnnAssign {
                target,
                value: Some(value),
                ..
            })
            | Stmt::AugAssign(ast::StmtAugAssign { target, value, .. }) => {
                self.assignment(stmt, bound_names(target), value, vec![target.range()]);
            }
            Stmt::AnnAssign(ast::StmtAnnAssign {
                target,
                value: None,
                ..
            }) => {
                self.statement(
                    stmt,
                    block_name::ANNOTATION,
                    Vec::new(),
                    true,
                    stmt.range(),
                    &[target.range()],
                );
            }
            Stmt::Expr(ast::StmtExpr { value, .. }) if first && value.is_string_literal_expr() => {
                let binds = vec!["__doc__".to_owned()];
                self.statement(
                    stmt,
                    &block_name::assign(&binds),
                    binds,
                    true,
                    stmt.range(),
                    &[],
                );
            }
            _ => self.statement(
                stmt,
                block_name::STATEMENT,
                Vec::new(),
                false,
                stmt.range(),
                &[],
            ),
        }
    }

    fn assignment(
        &mut self,
        stmt: &Stmt,
        binds: Option<Vec<String>>,
        value: &Expr,
        targets: Vec<TextRange>,
    ) {
        match binds {
            Some(binds) if !has_effects(value) => {
                let key = block_name::assign(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), &targets);
            }
            _ => self.statement(
                stmt,
                block_name::STATEMENT,
                Vec::new(),
                false,
                stmt.range(),
                &[],
            ),
        }
    }

    fn statement(
        &mut self,
        stmt: &Stmt,
        key: &str,
        binds: Vec<String>,
        pure: bool,
        range: TextRange,
        not_uses: &[TextRange],
    ) {
        self.statement_with_holes(stmt, key, binds, pure, range, &[], not_uses);
    }

    /// Records one top-level statement: its key always goes into the module shape; its text goes
    /// into a `Binding` block when it is pure, into the shape otherwise.
    #[allow(clippy::too_many_arguments)] // Each argument is a distinct fact about the statement.
    fn statement_with_holes(
        &mut self,
        stmt: &Stmt,
        key: &str,
        binds: Vec<String>,
        pure: bool,
        range: TextRange,
        holes: &[TextRange],
        not_uses: &[TextRange],
    ) {
        let name = self.unique_name(key);
        self.shape.write(name.as_bytes());
        self.shape.write(b"\0");
        for token in self.tokens_in(range) {
            if token.kind() == TokenKind::Name
                && !holes
                    .iter()
                    .chain(not_uses)
                    .any(|hole| hole.contains_range(token.range()))
            {
                let name = &self.source[token.range()];
                self.import_uses.insert(Name::intern(name));
            }
        }
        let mut hasher = Fnv64::default();
        hash_tokens(&mut hasher, self.source, self.tokens, range, holes);
        if pure {
            let lines = (
                self.lines.line_of(stmt.start()),
                self.lines.line_of(stmt.end()),
            );
            self.blocks.push(Block::binding(
                Name::intern(&name),
                lines,
                hasher.finish(),
                binds.iter().map(|name| Name::intern(name)).collect(),
            ));
        } else {
            self.shape.write_u64(hasher.finish().cast_unsigned());
        }
    }

    fn class(&mut self, class: &'a ast::StmtClassDef, prefix: &str, holes: &mut Vec<TextRange>) {
        let qualname = block_name::class_prefix(prefix, &class.name);
        for stmt in &class.body {
            match stmt {
                Stmt::FunctionDef(function) => {
                    self.function(function, &qualname);
                    if let Some(first) = function.body.first() {
                        holes.push(TextRange::new(first.start(), function.end()));
                    }
                }
                Stmt::ClassDef(inner) => self.class(inner, &qualname, holes),
                _ => {}
            }
        }
    }

    fn function(&mut self, function: &'a ast::StmtFunctionDef, prefix: &str) {
        let name = self.unique_name(&block_name::function(prefix, &function.name));
        let mut hasher = Fnv64::default();
        hash_tokens(&mut hasher, self.source, self.tokens, function.range, &[]);
        let mut names: Vec<&str> = self
            .tokens_in(function.range)
            .filter(|token| token.kind() == TokenKind::Name)
            .map(|token| &self.source[token.range()])
            .collect();
        names.sort_unstable();
        names.dedup();
        // Exactly sized, from the table of shared names: models live for the whole session.
        let uses: Box<[Name]> = names.into_iter().map(Name::intern).collect();
        let lines = (
            self.lines.line_of(function.start()),
            self.lines.line_of(function.end()),
        );
        self.blocks.push(Block::function(
            Name::intern(&name),
            lines,
            hasher.finish(),
            uses,
            is_stateful(self.source, function),
        ));
    }

    fn tokens_in(&self, range: TextRange) -> impl Iterator<Item = &'a Token> + use<'a> {
        let tokens = self.tokens;
        let start = tokens.partition_point(|token| token.start() < range.start());
        tokens[start..]
            .iter()
            .take_while(move |token| token.start() < range.end())
    }

    fn unique_name(&mut self, key: &str) -> String {
        let count = self.seen_names.entry(key.to_owned()).or_insert(0);
        *count += 1;
        if *count == 1 {
            key.to_owned()
        } else {
            block_name::repeated(key, *count)
        }
    }
}

/// Decorators and signature: what runs when the `def` statement itself runs.
fn header_range(function: &ast::StmtFunctionDef) -> TextRange {
    let end = function.body.first().map_or(function.end(), Ranged::start);
    TextRange::new(function.start(), end)
}

/// The names an assignment target binds, or `None` when it stores into something else
/// (`x.attr = …`, `d[k] = …`), which is a side effect.
fn bound_names(target: &Expr) -> Option<Vec<String>> {
    match target {
        Expr::Name(name) => Some(vec![name.id.to_string()]),
        Expr::Tuple(ast::ExprTuple { elts, .. }) | Expr::List(ast::ExprList { elts, .. }) => elts
            .iter()
            .map(bound_names)
            .collect::<Option<Vec<_>>>()
            .map(|names| names.concat()),
        Expr::Starred(ast::ExprStarred { value, .. }) => bound_names(value),
        _ => None,
    }
}

/// Collects every import statement in a file, at any depth.
#[derive(Default)]
struct ImportCollector {
    imports: Vec<Import>,
}

impl<'a> Visitor<'a> for ImportCollector {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.imports.push(Import::new(0, alias.name.as_str(), []));
                }
            }
            Stmt::ImportFrom(import) => self.imports.push(Import::new(
                import.level,
                import.module.as_ref().map_or("", |module| module.as_str()),
                import.names.iter().map(|alias| alias.name.as_str()),
            )),
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, _expr: &'a Expr) {
        // Imports are statements; skipping expressions keeps the walk shallow.
    }
}
#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
