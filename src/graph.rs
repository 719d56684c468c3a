//! Module names ↔ files, and the import closure of a set of files.
//!
//! Module-level code runs once, at import, before most tests, so per-test tracing never sees it.
//! A test therefore depends on the module-level code of every project file it may have imported,
//! transitively: its import closure. Imports are read statically (every `import` in a file, at
//! any depth, including inside functions), and names are resolved against the modules that were
//! really loaded in this session (`sys.modules`), so only project files take part.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use crate::block::{Import, Name};
use crate::fasthash::FastSet;

/// What Python reported from `sys.modules`: project modules and their files.
#[derive(Default, PartialEq, Eq)]
pub struct ModuleMap {
    by_name: HashMap<String, String>,
    by_path: HashMap<String, String>,
}

impl ModuleMap {
    /// Builds the map from `(module name, relative path)` pairs.
    #[must_use]
    pub fn new(modules: Vec<(String, String)>) -> Self {
        let mut map = Self::default();
        for (name, path) in modules {
            map.by_path
                .entry(path.clone())
                .or_insert_with(|| name.clone());
            map.by_name.insert(name, path);
        }
        map
    }

    /// The file of the loaded module `name`.
    #[must_use]
    pub fn path_of(&self, name: &str) -> Option<&str> {
        self.by_name.get(name).map(String::as_str)
    }

    /// The files of the loaded modules, in no particular order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.by_path.keys().map(String::as_str)
    }

    /// The name of the loaded module at `path`.
    #[must_use]
    pub fn name_of(&self, path: &str) -> Option<&str> {
        self.by_path.get(path).map(String::as_str)
    }

    /// The absolute name of `module` as the file at `path` imports it: `module` has one leading
    /// dot per level of a relative import (`..pkg`). `None` when `path` is no loaded module and
    /// the import is relative, or when it climbs above the top package.
    #[must_use]
    pub fn absolute(&self, path: &str, module: &str) -> Option<String> {
        let rest = module.trim_start_matches('.');
        let level = module.len() - rest.len();
        if level == 0 {
            return Some(rest.to_owned());
        }
        let name = self.by_path.get(path)?;
        let mut package: Vec<&str> = name.split('.').collect();
        if !path.ends_with("__init__.py") {
            package.pop();
        }
        for _ in 1..level {
            package.pop()?;
        }
        if !rest.is_empty() {
            package.push(rest);
        }
        Some(package.join("."))
    }

    /// Files that importing from `path` executes, per its `imports`: the imported modules, every
    /// package on their dotted path, and the packages holding `path` itself.
    #[must_use]
    pub fn edges(&self, path: &str, imports: &[Import]) -> Vec<String> {
        let own_name = self.by_path.get(path);
        let mut targets = BTreeSet::new();
        let add_with_parents = |targets: &mut BTreeSet<String>, dotted: &str| {
            let mut end = 0;
            for (index, ch) in dotted
                .char_indices()
                .chain(std::iter::once((dotted.len(), '.')))
            {
                if ch == '.' && index > end {
                    if let Some(file) = self.by_name.get(&dotted[..index]) {
                        targets.insert(file.clone());
                    }
                    end = index;
                }
            }
        };
        if let Some(name) = own_name {
            add_with_parents(&mut targets, name);
        }
        for import in imports {
            let module = import.module.as_str();
            let base = if import.level == 0 {
                module.to_owned()
            } else {
                let Some(name) = own_name else { continue };
                let mut package: Vec<&str> = name.split('.').collect();
                if !path.ends_with("__init__.py") {
                    package.pop();
                }
                for _ in 1..import.level {
                    package.pop();
                }
                if !module.is_empty() {
                    package.push(module);
                }
                package.join(".")
            };
            if !base.is_empty() {
                add_with_parents(&mut targets, &base);
            }
            for imported in &import.names {
                let dotted = if base.is_empty() {
                    imported.to_string()
                } else {
                    format!("{base}.{imported}")
                };
                if let Some(file) = self.by_name.get(&dotted) {
                    targets.insert(file.clone());
                }
            }
        }
        targets.remove(path);
        targets.into_iter().collect()
    }
}

/// Every file reachable from `roots` through `edges` (roots included), sorted by path. Files
/// are interned names: a dense import graph reaches hundreds of files from every test file,
/// and walking it as strings cost half a millisecond per walk.
pub fn closure(roots: &[Name], mut edges: impl FnMut(Name) -> Arc<[Name]>) -> Vec<Name> {
    let mut seen: FastSet<Name> = roots.iter().copied().collect();
    let mut queue: Vec<Name> = roots.to_vec();
    while let Some(file) = queue.pop() {
        for &next in edges(file).iter() {
            if seen.insert(next) {
                queue.push(next);
            }
        }
    }
    let mut files: Vec<Name> = seen.into_iter().collect();
    files.sort_unstable_by_key(|file| file.as_str());
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ModuleMap {
        ModuleMap::new(vec![
            ("pkg".into(), "src/pkg/__init__.py".into()),
            ("pkg.config".into(), "src/pkg/config.py".into()),
            ("pkg.sub".into(), "src/pkg/sub/__init__.py".into()),
            ("pkg.sub.mod".into(), "src/pkg/sub/mod.py".into()),
            ("test_x".into(), "tests/test_x.py".into()),
        ])
    }

    #[test]
    fn absolute_from_import_reaches_module_and_packages() {
        let imports = [Import::new(0, "pkg.sub", ["mod"])];
        assert_eq!(
            map().edges("tests/test_x.py", &imports),
            vec![
                "src/pkg/__init__.py",
                "src/pkg/sub/__init__.py",
                "src/pkg/sub/mod.py"
            ]
        );
    }

    #[test]
    fn relative_import_resolves_against_the_package() {
        let imports = [Import::new(2, "config", ["TIMEOUT"])];
        assert_eq!(
            map().edges("src/pkg/sub/mod.py", &imports),
            vec![
                "src/pkg/__init__.py",
                "src/pkg/config.py",
                "src/pkg/sub/__init__.py"
            ]
        );
    }

    #[test]
    fn closure_is_transitive() {
        let [a, b, c] = ["a", "b", "c"].map(Name::intern);
        let edges = |file: Name| -> Arc<[Name]> {
            match file.as_str() {
                "a" => Arc::from([b]),
                "b" => Arc::from([c, a]),
                _ => Arc::from([]),
            }
        };
        assert_eq!(closure(&[a], edges), vec![a, b, c]);
    }
}
