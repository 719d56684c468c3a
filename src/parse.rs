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

use ruff_python_ast::token::Token;
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, PySourceType, Stmt};
use ruff_python_parser::parse_unchecked_source;
use ruff_text_size::{Ranged, TextRange, TextSize};

use crate::block::{Block, ClassInfo, FileModel, Import, ImportBinding, MODULE_BLOCK, Name};
use crate::block_name;
use crate::checksum::{Fnv64, hash_bytes, hash_tokens};
use crate::effects::{
    acts_on_itself, caches, class_callees, def_callees, has_effects, is_pure_class,
    is_pure_decorator, value_callees,
};
use crate::flow::{imported_module, imported_name, relative_module};
use crate::refs::{Refs, function_refs, module_refs};

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
        containers: container_names(&parsed.syntax().body),
        bindings: Vec::new(),
        import_bindings: Vec::new(),
        star_imports: Vec::new(),
        star_import_lines: Vec::new(),
        classes: Vec::new(),
        calling: Vec::new(),
        postponed_annotations: false,
        governing: Vec::new(),
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
    let mut bindings = builder.bindings;
    bindings.sort_unstable();
    bindings.dedup();
    FileModel {
        content_hash,
        blocks,
        imports: imports.imports,
        import_uses: import_uses.into_boxed_slice(),
        bindings: bindings.into_boxed_slice(),
        import_bindings: builder.import_bindings.into_boxed_slice(),
        star_imports: builder.star_imports.into_boxed_slice(),
        star_import_lines: builder.star_import_lines.into_boxed_slice(),
        classes: builder.classes.into_boxed_slice(),
        calling: builder.calling.into_boxed_slice(),
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
    /// The references of the statements folded into `<module>`.
    import_uses: HashSet<Name>,
    /// How often a block name was used, to give repeated names (`@property` / `@x.setter`) a
    /// stable `#2` suffix.
    seen_names: HashMap<String, u32>,
    /// The module-level names that only assignments of a container display bind (see
    /// `container_names`): what a store into one changes is the project's own object.
    containers: HashSet<String>,
    /// See the fields of `FileModel` of the same names. Block indexes count `<module>`, which
    /// is added in front at the end.
    bindings: Vec<(Name, u32)>,
    import_bindings: Vec<ImportBinding>,
    star_imports: Vec<Name>,
    star_import_lines: Vec<u32>,
    classes: Vec<ClassInfo>,
    calling: Vec<(u32, Box<[Name]>)>,
    /// `from __future__ import annotations` (PEP 563): `def` statements leave annotations as
    /// strings.
    postponed_annotations: bool,
    /// The references of the conditions and handler types of the module-level `if` and `try`
    /// statements around the statement being recorded: what decides whether it runs, so part
    /// of what its block depends on.
    governing: Vec<Name>,
}

impl<'a> ModelBuilder<'a> {
    fn top_level(&mut self, stmt: &'a Stmt, first: bool) {
        match stmt {
            Stmt::FunctionDef(function) => {
                self.function(function, "", false);
                let header = header_range(function);
                let pure = function
                    .decorator_list
                    .iter()
                    .all(|d| is_pure_decorator(&d.expression))
                    && !function
                        .parameters
                        .iter_non_variadic_params()
                        .any(|p| p.default.as_deref().is_some_and(has_effects));
                let callees = if pure {
                    Some(Vec::new())
                } else {
                    def_callees(function)
                };
                let postponed = self.postponed_annotations;
                let refs = module_refs(|visitor| visit_header(visitor, function, postponed));
                self.note_callees(callees.as_deref());
                self.statement(
                    stmt,
                    &block_name::def_header(&function.name),
                    vec![function.name.to_string()],
                    callees.is_some(),
                    header,
                    refs,
                );
            }
            Stmt::ClassDef(class) => {
                let mut holes = Holes::default();
                let first_class = self.classes.len();
                self.class(class, "", &mut holes);
                let callees = if is_pure_class(class) {
                    Some(Vec::new())
                } else {
                    class_callees(class)
                };
                // The class statement's block is the next one pushed, if it gets one.
                let block = if callees.is_some() {
                    u32::try_from(self.blocks.len() + 1).unwrap_or(0)
                } else {
                    0
                };
                for info in &mut self.classes[first_class..] {
                    info.block = block;
                }
                let postponed = self.postponed_annotations;
                let refs = module_refs(|visitor| visit_class_header(visitor, class, postponed));
                self.note_callees(callees.as_deref());
                self.statement_with_holes(
                    stmt,
                    &block_name::class(&class.name),
                    vec![class.name.to_string()],
                    callees.is_some(),
                    class.range,
                    &holes,
                    refs,
                );
            }
            Stmt::Import(import) => {
                let binds = self.import(import);
                let key = block_name::import(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), Refs::default());
            }
            Stmt::ImportFrom(import) if !import.names.iter().any(|alias| &alias.name == "*") => {
                if import.module.as_deref() == Some("__future__")
                    && import
                        .names
                        .iter()
                        .any(|alias| &alias.name == "annotations")
                {
                    self.postponed_annotations = true;
                }
                let binds = self.import_from(import);
                let key = block_name::from_import(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), Refs::default());
            }
            Stmt::Assign(ast::StmtAssign { targets, value, .. })
                if let [target] = targets.as_slice()
                    && let Some(root) = self.stored_container(target) =>
            {
                self.mutation(stmt, root, &[target, value]);
            }
            Stmt::AugAssign(ast::StmtAugAssign { target, value, .. })
                if let Some(root) = self.stored_container(target) =>
            {
                self.mutation(stmt, root, &[target, value]);
            }
            Stmt::Expr(ast::StmtExpr { value, .. })
                if let Some((root, parts)) = self.container_method_call(value) =>
            {
                self.mutation(stmt, root, &parts);
            }
            Stmt::Assign(ast::StmtAssign { targets, value, .. }) => {
                let binds = targets.iter().map(bound_names).collect::<Option<Vec<_>>>();
                self.assignment(stmt, binds.map(|names| names.concat()), value, None);
            }
            Stmt::AnnAssign(ast::StmtAnnAssign {
                target,
                value: Some(value),
                ..
            }) => {
                self.assignment(stmt, bound_names(target), value, None);
            }
            Stmt::AugAssign(ast::StmtAugAssign { target, value, .. }) => {
                // `X += 1` reads X too.
                self.assignment(stmt, bound_names(target), value, Some(target));
            }
            Stmt::AnnAssign(ast::StmtAnnAssign { value: None, .. }) => {
                self.statement(
                    stmt,
                    block_name::ANNOTATION,
                    Vec::new(),
                    true,
                    stmt.range(),
                    Refs::default(),
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
                    Refs::default(),
                );
            }
            Stmt::Expr(ast::StmtExpr { value, .. }) if namespace_update(value).is_some() => {
                self.namespace_update(stmt, value);
            }
            Stmt::Expr(ast::StmtExpr { value, .. }) if value.is_call_expr() => {
                self.bare_call(stmt, value);
            }
            Stmt::If(_) | Stmt::Try(_) => self.branches(stmt),
            _ => {
                if let Stmt::ImportFrom(import) = stmt {
                    self.star_imports
                        .push(Name::intern(&relative_module(import)));
                    self.star_import_lines
                        .push(self.lines.line_of(import.start()));
                }
                // Whatever it binds (`try: import json` / `except: json = None`) is bound by
                // the module's code: by `<module>`.
                let mut bound = CompoundBindings::default();
                bound.visit_stmt(stmt);
                self.bindings
                    .extend(bound.names.iter().map(|name| (Name::intern(name), 0)));
                for (statement, prefix) in bound.imports {
                    match statement {
                        Stmt::Import(import) => {
                            self.import(import);
                        }
                        Stmt::ImportFrom(import) => {
                            self.import_from(import);
                        }
                        Stmt::ClassDef(class) => {
                            self.class(class, &prefix, &mut Holes::default());
                        }
                        _ => {}
                    }
                }
                let postponed = self.postponed_annotations;
                let refs = module_refs(|visitor| visit_skipping_bodies(visitor, stmt, postponed));
                self.effects(stmt, refs);
            }
        }
    }

    /// A module-level `if` or `try`: each statement of its branches is recorded as a top-level
    /// one (a `def` there is a block of its own, which its users depend on, not every
    /// importer), with the references of the conditions and handler types, which decide
    /// whether it runs. The conditions, the handlers and where each statement stands are
    /// module code; so are the references of the conditions when evaluating them may have
    /// effects.
    fn branches(&mut self, stmt: &'a Stmt) {
        let Some(Branches {
            tests,
            clauses,
            handler_names,
        }) = branches_of(stmt)
        else {
            return;
        };
        let mut bound = CompoundBindings::default();
        for test in &tests {
            bound.visit_expr(test); // a walrus binds at module level
        }
        bound
            .names
            .extend(handler_names.iter().map(ToString::to_string));
        self.bindings
            .extend(bound.names.iter().map(|name| (Name::intern(name), 0)));
        let refs = module_refs(|visitor| {
            for test in &tests {
                visitor.visit_expr(test);
            }
        });
        let (references, _) = refs.into_names();
        // The statement's own text (conditions, handlers), then each branch, in brackets, by
        // the keys its statements leave: which branch holds a statement is part of the shape.
        let name = self.unique_name(block_name::STATEMENT);
        self.shape.write(name.as_bytes());
        self.shape.write(b"\0");
        let holes: Vec<TextRange> = clauses
            .iter()
            .flat_map(|clause| clause.iter().map(Ranged::range))
            .collect();
        let mut hasher = Fnv64::default();
        hash_tokens(&mut hasher, self.source, self.tokens, stmt.range(), &holes);
        self.shape.write_u64(hasher.finish().cast_unsigned());
        let outer = self.governing.len();
        self.governing.extend(references.iter().copied());
        for clause in clauses {
            self.shape.write(b"(\0");
            for child in clause {
                self.top_level(child, false);
            }
            self.shape.write(b")\0");
        }
        self.governing.truncate(outer);
        // A statement of a branch folded into `<module>` took them with its own references.
        if tests.iter().any(|test| has_effects(test)) {
            self.import_uses.extend(references);
        }
    }

    /// The references of a block recorded now: its own, and those of the conditions that
    /// decide whether its statement runs.
    fn governed(&self, mut references: Vec<Name>) -> Vec<Name> {
        for name in &self.governing {
            if !references.contains(name) {
                references.push(*name);
            }
        }
        references
    }

    /// Records what an `import` statement binds; returns the bound names.
    fn import(&mut self, import: &ast::StmtImport) -> Vec<String> {
        import
            .names
            .iter()
            .map(|alias| {
                let bound = imported_name(alias, false);
                self.import_bindings.push(ImportBinding {
                    bound: Name::intern(bound),
                    module: Name::intern(imported_module(alias)),
                    attr: None,
                });
                bound.to_owned()
            })
            .collect()
    }

    /// Records what a `from ... import` statement binds; returns the bound names.
    fn import_from(&mut self, import: &ast::StmtImportFrom) -> Vec<String> {
        let module = Name::intern(&relative_module(import));
        import
            .names
            .iter()
            .filter(|alias| &alias.name != "*")
            .map(|alias| {
                let bound = imported_name(alias, true).to_owned();
                self.import_bindings.push(ImportBinding {
                    bound: Name::intern(&bound),
                    module,
                    attr: Some(Name::intern(alias.name.as_str())),
                });
                bound
            })
            .collect()
    }

    fn assignment(
        &mut self,
        stmt: &'a Stmt,
        binds: Option<Vec<String>>,
        value: &'a Expr,
        also_read: Option<&'a Expr>,
    ) {
        let refs = module_refs(|visitor| {
            visitor.visit_expr(value);
            if let Some(target) = also_read {
                visitor.visit_expr(target);
            }
        });
        match binds {
            Some(binds) if !has_effects(value) => {
                let key = block_name::assign(&binds);
                self.statement(stmt, &key, binds, true, stmt.range(), refs);
            }
            Some(binds) => {
                // A call of named code (`add = Wrapped(_add)`): a statement of its own, whose
                // callees the engine follows, as a `def`'s decorators (see
                // `FileModel::calling`).
                if also_read.is_none()
                    && let Some(callees) = value_callees(value)
                {
                    self.note_callees(Some(&callees));
                    let key = block_name::assign(&binds);
                    self.statement(stmt, &key, binds, true, stmt.range(), refs);
                    return;
                }
                // Bound by a statement that may have effects: by `<module>`.
                self.bindings
                    .extend(binds.iter().map(|name| (Name::intern(name), 0)));
                self.effects(stmt, refs);
            }
            None => self.effects(stmt, refs),
        }
    }

    /// `globals().update(...)` (or `locals()`, the same at module level): it binds names no
    /// statement spells out, `*` for the lookups of the module's names (see `resolve`). Where
    /// its argument calls only named code, the engine follows those calls, as an assignment's;
    /// otherwise it is module code.
    fn namespace_update(&mut self, stmt: &'a Stmt, value: &'a Expr) {
        let Some(arguments) = namespace_update(value) else {
            return;
        };
        let refs = module_refs(|visitor| visitor.visit_arguments(arguments));
        let mut callees = Some(Vec::new());
        for argument in arguments
            .args
            .iter()
            .chain(arguments.keywords.iter().map(|k| &k.value))
        {
            if let (Some(all), Some(found)) = (callees.as_mut(), value_callees(argument)) {
                all.extend(found);
            } else {
                callees = None;
            }
        }
        let Some(mut callees) = callees else {
            self.effects(stmt, refs);
            return;
        };
        callees.sort_unstable();
        callees.dedup();
        self.note_callees(Some(&callees));
        let binds = vec![block_name::NAMESPACE.to_owned()];
        let key = block_name::assign(&binds);
        self.statement(stmt, &key, binds, true, stmt.range(), refs);
    }

    /// The container a store into `target` changes (`TABLE` of `TABLE[k] = v`,
    /// `TABLE[k]["x"] = v`), if the module built it from a display.
    fn stored_container(&self, target: &Expr) -> Option<String> {
        let Expr::Subscript(subscript) = target else {
            return None;
        };
        let root = subscript_root(&subscript.value)?;
        self.containers.contains(root).then(|| root.to_owned())
    }

    /// The container a container method call changes (`TABLE.update(...)`,
    /// `TABLE[k].append(x)`), if the module built it from a display, with the parts of the
    /// statement that run: the receiver and the arguments.
    fn container_method_call(&self, value: &'a Expr) -> Option<(String, Vec<&'a Expr>)> {
        let Expr::Call(call) = value else {
            return None;
        };
        let Expr::Attribute(method) = call.func.as_ref() else {
            return None;
        };
        if !CONTAINER_MUTATORS.contains(&method.attr.as_str()) {
            return None;
        }
        let root = subscript_root(&method.value)?;
        if !self.containers.contains(root) {
            return None;
        }
        let mut parts: Vec<&Expr> = vec![&method.value];
        parts.extend(call.arguments.args.iter());
        parts.extend(call.arguments.keywords.iter().map(|keyword| &keyword.value));
        Some((root.to_owned(), parts))
    }

    /// A statement that changes a container the module built (`module_info[builtins] =
    /// dict(...)` in toolz): one more statement binding its name, which the container's readers
    /// depend on, and not module code every importer does. Where what it runs calls only named
    /// code, a calling statement (see `FileModel::calling`); otherwise module code.
    fn mutation(&mut self, stmt: &'a Stmt, root: String, parts: &[&'a Expr]) {
        let refs = module_refs(|visitor| {
            for part in parts {
                visitor.visit_expr(part);
            }
        });
        let mut callees = Vec::new();
        for part in parts {
            let Some(found) = value_callees(part) else {
                self.effects(stmt, refs);
                return;
            };
            callees.extend(found);
        }
        callees.sort_unstable();
        callees.dedup();
        let key = block_name::assign(std::slice::from_ref(&root));
        self.note_callees(Some(&callees));
        self.statement(stmt, &key, vec![root], true, stmt.range(), refs);
    }

    /// A bare call (toolz's `functoolz._sigs.create_signature_registry()`): where it calls only
    /// named code, a statement of its own that binds nothing, whose callees the engine follows
    /// (see `FileModel::calling`); otherwise module code.
    fn bare_call(&mut self, stmt: &'a Stmt, value: &'a Expr) {
        let refs = module_refs(|visitor| visitor.visit_expr(value));
        match value_callees(value) {
            Some(callees) if !callees.is_empty() => {
                self.note_callees(Some(&callees));
                let key = block_name::call(&callees);
                self.statement(stmt, &key, Vec::new(), true, stmt.range(), refs);
            }
            _ => self.effects(stmt, refs),
        }
    }

    /// Records a top-level statement that may have effects: it is part of `<module>` (which
    /// binds whatever names it binds).
    fn effects(&mut self, stmt: &Stmt, refs: Refs) {
        self.statement(
            stmt,
            block_name::STATEMENT,
            Vec::new(),
            false,
            stmt.range(),
            refs,
        );
    }

    fn statement(
        &mut self,
        stmt: &Stmt,
        key: &str,
        binds: Vec<String>,
        pure: bool,
        range: TextRange,
        refs: Refs,
    ) {
        self.statement_with_holes(stmt, key, binds, pure, range, &Holes::default(), refs);
    }

    /// Records one top-level statement: its key always goes into the module shape; its text goes
    /// into a `Binding` block when it is pure, into the shape otherwise, and so do its names and
    /// references.
    #[allow(clippy::too_many_arguments)] // Each argument is a distinct fact about the statement.
    fn statement_with_holes(
        &mut self,
        stmt: &Stmt,
        key: &str,
        binds: Vec<String>,
        pure: bool,
        range: TextRange,
        holes: &Holes,
        refs: Refs,
    ) {
        let name = self.unique_name(key);
        self.shape.write(name.as_bytes());
        self.shape.write(b"\0");
        let mut hasher = Fnv64::default();
        hash_tokens(&mut hasher, self.source, self.tokens, range, &holes.ranges);
        for member in &holes.members {
            hasher.write(member.as_bytes());
            hasher.write(b"\0");
        }
        let binds: Vec<Name> = binds.iter().map(|name| Name::intern(name)).collect();
        let (references, _) = refs.into_names();
        let references = self.governed(references);
        if pure {
            let lines = (
                self.lines.line_of(stmt.start()),
                self.lines.line_of(stmt.end()),
            );
            let index = u32::try_from(self.blocks.len() + 1).unwrap_or(0);
            self.bindings
                .extend(binds.iter().map(|bind| (*bind, index)));
            self.blocks.push(Block::binding(
                Name::intern(&name),
                lines,
                hasher.finish(),
                &binds,
                &references,
            ));
        } else {
            self.bindings.extend(binds.iter().map(|bind| (*bind, 0)));
            self.import_uses.extend(references);
            self.shape.write_u64(hasher.finish().cast_unsigned());
        }
    }

    fn class(&mut self, class: &'a ast::StmtClassDef, prefix: &str, holes: &mut Holes) {
        let qualname = format!("{prefix}{}", class.name);
        let bases = module_refs(|visitor| {
            if let Some(arguments) = &class.arguments {
                visitor.visit_arguments(arguments);
            }
        });
        let mut attributes: Vec<Name> = class
            .body
            .iter()
            .filter_map(|stmt| match stmt {
                Stmt::Assign(ast::StmtAssign { targets, .. }) => {
                    targets.iter().map(bound_names).collect::<Option<Vec<_>>>()
                }
                Stmt::AnnAssign(ast::StmtAnnAssign { target, .. })
                | Stmt::AugAssign(ast::StmtAugAssign { target, .. }) => {
                    bound_names(target).map(|names| vec![names])
                }
                _ => None,
            })
            .flatten()
            .flatten()
            .map(|name| Name::intern(&name))
            .collect();
        attributes.sort_unstable();
        attributes.dedup();
        let decorators = self.decorator_only_refs(class);
        self.classes.push(ClassInfo {
            qualname: Name::intern(&qualname),
            block: 0,
            bases: bases.into_names().0.into_boxed_slice(),
            decorators,
            attributes: attributes.into_boxed_slice(),
        });
        let members = block_name::class_prefix(prefix, &class.name);
        self.members(&class.body, &members, holes);
    }

    /// The references of `class`'s decorators that the rest of its statement (bases, body)
    /// does not make too.
    fn decorator_only_refs(&self, class: &'a ast::StmtClassDef) -> Box<[Name]> {
        if class.decorator_list.is_empty() {
            return Box::default();
        }
        let (decorators, _) = module_refs(|visitor| {
            for decorator in &class.decorator_list {
                visitor.visit_decorator(decorator);
            }
        })
        .into_names();
        let postponed = self.postponed_annotations;
        let (rest, _) = module_refs(|visitor| {
            if let Some(arguments) = &class.arguments {
                visitor.visit_arguments(arguments);
            }
            for stmt in &class.body {
                visit_skipping_bodies(visitor, stmt, postponed);
            }
        })
        .into_names();
        decorators
            .into_iter()
            .filter(|name| !rest.contains(name))
            .collect()
    }

    /// The methods and nested classes of a class body, also those under an `if` there
    /// (`if sys.version_info >= (3, 14): def _get_annotate(self): ...`).
    fn members(&mut self, body: &'a [Stmt], members: &str, holes: &mut Holes) {
        for stmt in body {
            match stmt {
                Stmt::FunctionDef(function) => {
                    self.function(function, members, true);
                    if acts_on_itself(function) {
                        holes.ranges.push(function.range);
                        holes.members.push(function.name.to_string());
                    } else if let Some(first) = function.body.first() {
                        holes
                            .ranges
                            .push(TextRange::new(first.start(), function.end()));
                    }
                }
                Stmt::ClassDef(inner) => self.class(inner, members, holes),
                Stmt::If(branch) => {
                    self.members(&branch.body, members, holes);
                    for clause in &branch.elif_else_clauses {
                        self.members(&clause.body, members, holes);
                    }
                }
                _ => {}
            }
        }
    }

    fn function(&mut self, function: &'a ast::StmtFunctionDef, prefix: &str, method: bool) {
        let name = self.unique_name(&block_name::function(prefix, &function.name));
        let mut hasher = Fnv64::default();
        hash_tokens(&mut hasher, self.source, self.tokens, function.range, &[]);
        let caches = caches(function);
        let refs = function_refs(function, function.name.as_str(), method, caches);
        let (refs, writes, stored) = refs.into_ordered_names();
        let refs = self.governed(refs);
        let lines = (
            self.lines.line_of(function.start()),
            self.lines.line_of(function.end()),
        );
        self.blocks.push(Block::function(
            Name::intern(&name),
            lines,
            hasher.finish(),
            (&refs, stored),
            &writes,
        ));
    }

    /// Notes the callees of the statement whose block is pushed next (see
    /// `FileModel::calling`), if it calls anything that may have effects.
    fn note_callees(&mut self, callees: Option<&[String]>) {
        if let Some(callees) = callees.filter(|callees| !callees.is_empty())
            && let Ok(index) = u32::try_from(self.blocks.len() + 1)
        {
            // What it calls is part of the module's shape: a statement that comes to call
            // something else (a library's decorator where the project's was) may change state
            // every importer sees, which the tests recorded before did not depend on.
            for callee in callees {
                self.shape.write(callee.as_bytes());
                self.shape.write(b"\0");
            }
            let callees = callees.iter().map(|callee| Name::intern(callee)).collect();
            self.calling.push((index, callees));
        }
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

/// What a class statement's text leaves to the blocks of its methods: their bodies, and the
/// whole of a method that acts on itself alone (see `acts_on_itself`), whose name stays.
#[derive(Default)]
struct Holes {
    ranges: Vec<TextRange>,
    members: Vec<String>,
}

/// Decorators, signature and docstring: what runs when the `def` statement itself runs, and
/// what it hands its decorators besides code (a command's help is its function's `__doc__`,
/// read when the command is made).
fn header_range(function: &ast::StmtFunctionDef) -> TextRange {
    let docstring = function.body.first().is_some_and(|first| {
        matches!(first, Stmt::Expr(ast::StmtExpr { value, .. }) if value.is_string_literal_expr())
    });
    let end = function
        .body
        .get(usize::from(docstring))
        .map_or(function.end(), Ranged::start);
    TextRange::new(function.start(), end)
}

/// The names an assignment target binds, or `None` when it stores into something else
/// (`x.attr = …`, `d[k] = …`), which is a side effect.
/// The arguments of `globals().update(...)` or `locals().update(...)`.
fn namespace_update(value: &Expr) -> Option<&ast::Arguments> {
    let Expr::Call(call) = value else {
        return None;
    };
    let Expr::Attribute(method) = call.func.as_ref() else {
        return None;
    };
    let Expr::Call(inner) = method.value.as_ref() else {
        return None;
    };
    let namespace = matches!(inner.func.as_ref(), Expr::Name(name) if matches!(name.id.as_str(), "globals" | "locals"));
    (method.attr.as_str() == "update" && namespace && inner.arguments.is_empty())
        .then_some(&call.arguments)
}

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

/// Methods of the builtin containers that change the container they are called on.
const CONTAINER_MUTATORS: &[&str] = &[
    "append",
    "clear",
    "discard",
    "extend",
    "insert",
    "pop",
    "popitem",
    "remove",
    "reverse",
    "setdefault",
    "sort",
    "update",
];

/// The name a chain of subscripts starts from (`TABLE` of `TABLE[a][b]`).
fn subscript_root(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Name(name) => Some(name.id.as_str()),
        Expr::Subscript(subscript) => subscript_root(&subscript.value),
        _ => None,
    }
}

/// The module-level names that only assignments of a container display bind (`TABLE = {}`),
/// in any top-level statement or module-level `if` or `try` branch: a store into one at module
/// level changes the project's own object, whichever branch ran. A name anything else binds
/// (a call's result, an import, a `def`, a loop target) may be another object.
fn container_names(body: &[Stmt]) -> HashSet<String> {
    fn visit<'a>(
        body: &'a [Stmt],
        displays: &mut HashSet<String>,
        others: &mut CompoundBindings<'a>,
    ) {
        for stmt in body {
            match stmt {
                Stmt::Assign(ast::StmtAssign { targets, value, .. })
                    if let [Expr::Name(name)] = targets.as_slice()
                        && is_container_display(value) =>
                {
                    displays.insert(name.id.to_string());
                    others.visit_expr(value); // a walrus in it binds too
                }
                Stmt::If(_) | Stmt::Try(_) => {
                    if let Some(branches) = branches_of(stmt) {
                        for test in branches.tests {
                            others.visit_expr(test);
                        }
                        others
                            .names
                            .extend(branches.handler_names.iter().map(ToString::to_string));
                        for clause in branches.clauses {
                            visit(clause, displays, others);
                        }
                    }
                }
                _ => others.visit_stmt(stmt),
            }
        }
    }
    let mut displays = HashSet::new();
    let mut others = CompoundBindings::default();
    visit(body, &mut displays, &mut others);
    for name in &others.names {
        displays.remove(name);
    }
    displays
}

/// Whether `value` builds a builtin container (`{}`, `[1, 2]`, `{k: v for ...}`).
fn is_container_display(value: &Expr) -> bool {
    matches!(
        value,
        Expr::Dict(_)
            | Expr::List(_)
            | Expr::Set(_)
            | Expr::DictComp(_)
            | Expr::ListComp(_)
            | Expr::SetComp(_)
    )
}

/// Visits what running a `def` statement evaluates: decorators, defaults and annotations, but
/// not `postponed` annotations (`from __future__ import annotations`, PEP 563: kept as strings
/// until something asks for them, which the function's own block still refers to).
fn visit_header<'a>(
    visitor: &mut dyn Visitor<'a>,
    function: &'a ast::StmtFunctionDef,
    postponed: bool,
) {
    for decorator in &function.decorator_list {
        visitor.visit_decorator(decorator);
    }
    if !postponed {
        visitor.visit_parameters(&function.parameters);
        if let Some(returns) = &function.returns {
            visitor.visit_annotation(returns);
        }
        return;
    }
    for parameter in function.parameters.iter_non_variadic_params() {
        if let Some(default) = parameter.default.as_deref() {
            visitor.visit_expr(default);
        }
    }
}

/// Visits what running a `class` statement evaluates: decorators, bases, and its body without
/// the bodies of its methods (see `visit_header` for `postponed`).
fn visit_class_header<'a>(
    visitor: &mut dyn Visitor<'a>,
    class: &'a ast::StmtClassDef,
    postponed: bool,
) {
    for decorator in &class.decorator_list {
        visitor.visit_decorator(decorator);
    }
    if let Some(arguments) = &class.arguments {
        visitor.visit_arguments(arguments);
    }
    for stmt in &class.body {
        visit_skipping_bodies(visitor, stmt, postponed);
    }
}

/// Visits a statement, but of a `def` only what running it evaluates (see `visit_header`).
fn visit_skipping_bodies<'a>(visitor: &mut dyn Visitor<'a>, stmt: &'a Stmt, postponed: bool) {
    match stmt {
        Stmt::FunctionDef(function) => visit_header(visitor, function, postponed),
        Stmt::ClassDef(class) => visit_class_header(visitor, class, postponed),
        Stmt::If(_) | Stmt::Try(_) => {
            let Some(Branches { tests, clauses, .. }) = branches_of(stmt) else {
                return;
            };
            for test in tests {
                visitor.visit_expr(test);
            }
            for stmt in clauses.into_iter().flatten() {
                visit_skipping_bodies(visitor, stmt, postponed);
            }
        }
        _ => visitor.visit_stmt(stmt),
    }
}

/// An `if` or `try` taken apart: what decides which of its statements run (an `if`'s tests, a
/// `try`'s handler types), the names its handlers bind (`except ImportError as error`), and its
/// branches in order.
struct Branches<'a> {
    tests: Vec<&'a Expr>,
    clauses: Vec<&'a [Stmt]>,
    handler_names: Vec<&'a str>,
}

fn branches_of(stmt: &Stmt) -> Option<Branches<'_>> {
    let mut branches = Branches {
        tests: Vec::new(),
        clauses: Vec::new(),
        handler_names: Vec::new(),
    };
    match stmt {
        Stmt::If(ast::StmtIf {
            test,
            body,
            elif_else_clauses,
            ..
        }) => {
            branches.tests.push(test);
            branches.clauses.push(body);
            for clause in elif_else_clauses {
                branches.tests.extend(clause.test.as_ref());
                branches.clauses.push(&clause.body);
            }
        }
        Stmt::Try(ast::StmtTry {
            body,
            handlers,
            orelse,
            finalbody,
            ..
        }) => {
            branches.clauses.push(body);
            for handler in handlers {
                let ast::ExceptHandler::ExceptHandler(handler) = handler;
                branches.tests.extend(handler.type_.as_deref());
                branches
                    .handler_names
                    .extend(handler.name.as_ref().map(|name| name.as_str()));
                branches.clauses.push(&handler.body);
            }
            branches.clauses.push(orelse);
            branches.clauses.push(finalbody);
        }
        _ => return None,
    }
    Some(branches)
}

/// The names a compound top-level statement (`if`, `try`, `with`, `for`) binds at module
/// level, and the imports and classes in it (with the prefix of classes' qualified names).
#[derive(Default)]
struct CompoundBindings<'a> {
    names: Vec<String>,
    imports: Vec<(&'a Stmt, String)>,
}

impl<'a> Visitor<'a> for CompoundBindings<'a> {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::FunctionDef(function) => self.names.push(function.name.to_string()),
            Stmt::ClassDef(class) => {
                self.names.push(class.name.to_string());
                self.imports.push((stmt, String::new()));
            }
            Stmt::Import(import) => {
                for alias in &import.names {
                    self.names.push(imported_name(alias, false).to_owned());
                }
                self.imports.push((stmt, String::new()));
            }
            Stmt::ImportFrom(import) => {
                self.names.extend(
                    import
                        .names
                        .iter()
                        .filter(|alias| &alias.name != "*")
                        .map(|alias| imported_name(alias, true).to_owned()),
                );
                self.imports.push((stmt, String::new()));
            }
            _ => visitor::walk_stmt(self, stmt),
        }
    }

    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Name(name) = expr
            && name.ctx == ast::ExprContext::Store
        {
            self.names.push(name.id.to_string());
        }
        visitor::walk_expr(self, expr);
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
