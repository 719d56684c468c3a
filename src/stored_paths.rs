//! Which file paths a database may hold. A database can be someone else's (a shared baseline, a
//! merge input, a restored CI cache), and the engine stats, reads and hashes every stored file,
//! so each stored path must name a file of this project: relative to the root, `/`-separated,
//! normalised, inside the tracked directories; or be a pseudo-file of a form this version
//! writes (see schema.sql).

use std::path::{Component, Path, PathBuf};

/// The rules for one project, or for databases outside any project (merging).
#[derive(Clone, Debug)]
pub struct StoredPaths {
    /// The tracked directories outside the root, as stored paths (`../lib`): where a path may
    /// lead with `..`. `None` when they are unknown: a merge does not know the project, so any
    /// leading `..` passes there, and the run that uses the merged database checks it.
    outside_root: Option<Vec<String>>,
}

impl StoredPaths {
    /// The rules for the project at `root` that tracks `tracked` (empty: the root alone), as
    /// `ProjectFiles` in `_paths.py` stores paths: relative to the real root, through real
    /// directories.
    #[must_use]
    pub fn of_project(root: &Path, tracked: &[PathBuf]) -> Self {
        let real = |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let root = real(root);
        let outside_root = tracked
            .iter()
            .map(|dir| real(dir))
            .filter(|dir| !dir.starts_with(&root))
            .filter_map(|dir| relative(&root, &dir))
            .collect();
        Self {
            outside_root: Some(outside_root),
        }
    }

    /// The rules that hold whatever the project: no absolute or unnormalised path, no
    /// pseudo-file of a form this version does not write.
    #[must_use]
    pub fn of_any_project() -> Self {
        Self { outside_root: None }
    }

    /// Why `path` may not be stored, if it may not.
    ///
    /// # Errors
    /// The reason, naming the path.
    pub fn check(&self, path: &str) -> Result<(), String> {
        if !path.starts_with('<') {
            // A directory's listing is stored as the directory with a trailing slash.
            let file = path.strip_suffix('/').unwrap_or(path);
            return self.check_file(file, path);
        }
        match path {
            "<config>/ini" | "<config>/plugins" | "<python>" | "<always>" => return Ok(()),
            _ => {}
        }
        if let Some(name) = path.strip_prefix("<dist>/")
            && !name.is_empty()
            && !name.contains(['/', '\0'])
        {
            return Ok(());
        }
        if let Some(pattern) = path.strip_prefix("<glob>/") {
            return self.check_pattern(pattern, path);
        }
        if let Some(entry) = path.strip_prefix("<snapshot>/") {
            return self.check_snapshot(entry, path);
        }
        Err(format!(
            "{path:?} is not a pseudo-file pytest-difftest writes"
        ))
    }

    /// A file path as `ProjectFiles` writes it: any `..` leads, and leads into a tracked
    /// directory outside the root.
    fn check_file(&self, file: &str, stored: &str) -> Result<(), String> {
        let mut up = 0;
        let mut down = 0;
        for part in file.split('/') {
            match part {
                ".." if down == 0 => up += 1,
                "" | "." | ".." => return Err(not_normalised(stored)),
                _ if forbidden_in_name(part) => return Err(not_normalised(stored)),
                _ => down += 1,
            }
        }
        if down == 0 {
            return Err(not_normalised(stored));
        }
        if up == 0 {
            return Ok(());
        }
        let Some(outside_root) = &self.outside_root else {
            return Ok(());
        };
        let inside = |dir: &String| {
            file.strip_prefix(dir.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
        };
        if outside_root.iter().any(inside) {
            Ok(())
        } else {
            Err(format!(
                "file path {stored:?} is outside the project's tracked directories"
            ))
        }
    }

    /// A test's entries in a snapshot file, `FILE::NAME`: the engine never reads the file, but
    /// Python does, to compute the value, so it is held to a file's rules.
    fn check_snapshot(&self, entry: &str, stored: &str) -> Result<(), String> {
        match entry.split_once("::") {
            Some((file, name)) if !name.is_empty() && !name.contains('\0') => {
                self.check_file(file, stored)
            }
            _ => Err(format!(
                "{stored:?} is not a snapshot entry (<snapshot>/FILE::NAME)"
            )),
        }
    }

    /// A declared glob (`diff_depends`) as the user wrote it: `./data/*.json` is fine, so it is
    /// normalised first; what it can match must then be inside the tracked directories.
    fn check_pattern(&self, pattern: &str, stored: &str) -> Result<(), String> {
        if pattern.starts_with('/') {
            return Err(not_normalised(stored));
        }
        let mut parts: Vec<&str> = Vec::new();
        let mut up = 0;
        for part in pattern.split('/') {
            match part {
                "" | "." => {}
                ".." if parts.is_empty() => up += 1,
                ".." => {
                    parts.pop();
                }
                _ => parts.push(part),
            }
        }
        let normal: Vec<&str> = std::iter::repeat_n("..", up).chain(parts).collect();
        self.check_file(&normal.join("/"), stored)
    }
}

fn not_normalised(path: &str) -> String {
    format!("file path {path:?} is not a normalised path relative to the project")
}

/// Characters no stored path component holds: NUL anywhere, and on Windows the separator and
/// the drive or stream colon, which would make a relative path leave the root.
fn forbidden_in_name(part: &str) -> bool {
    part.contains('\0') || (cfg!(windows) && part.contains(['\\', ':']))
}

/// `dir` relative to `root`, `/`-separated (`../lib`); `None` on another drive.
fn relative(root: &Path, dir: &Path) -> Option<String> {
    let root: Vec<Component<'_>> = root.components().collect();
    let dir: Vec<Component<'_>> = dir.components().collect();
    let common = root.iter().zip(&dir).take_while(|(a, b)| a == b).count();
    if common == 0 {
        return None;
    }
    let ups = std::iter::repeat_n("..".to_owned(), root.len() - common);
    let downs = dir[common..]
        .iter()
        .map(|part| part.as_os_str().to_string_lossy().into_owned());
    Some(ups.chain(downs).collect::<Vec<_>>().join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(outside: &[&str]) -> StoredPaths {
        StoredPaths {
            outside_root: Some(outside.iter().map(|dir| (*dir).to_owned()).collect()),
        }
    }

    #[test]
    fn files_of_the_project_pass() {
        let rules = project(&["../lib", "../../vendor/pkg"]);
        for path in [
            "src/pkg/calc.py",
            "conftest.py",
            "data/x y.json",
            "data/..hidden/x",
            "../lib/shared/util.py",
            "../../vendor/pkg/mod.py",
            "<dist>/requests",
            "<config>/ini",
            "<config>/plugins",
            "<python>",
            "<always>",
            "<glob>/data/**/*.json",
            "<glob>/./data/*.json",
            "<glob>/data/../schema/*.sql",
            "<glob>/../lib/*.txt",
            "<snapshot>/tests/__snapshots__/test_x.ambr::test_x",
            "<snapshot>/tests/__snapshots__/test_x.ambr::TestA.test_x[a::b c].1",
            "<snapshot>/../lib/__snapshots__/test_y.ambr::test_y",
        ] {
            assert_eq!(rules.check(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn paths_outside_the_project_are_refused() {
        let rules = project(&["../lib"]);
        for path in [
            "/etc/passwd",
            "../../etc/passwd",
            "../libx/y.py",
            "../lib",
            "src/../../etc/passwd",
            "src/../x.py",
            "./x.py",
            "src//x.py",
            "src//",
            "/",
            "../../etc/",
            "",
            "..",
            "a\0b",
            "<glob>//etc/*",
            "<glob>/../*",
            "<glob>/data/../../*",
            "<glob>/",
            "<snapshot>/tests/x.ambr",
            "<snapshot>/tests/x.ambr::",
            "<snapshot>/tests/x.ambr::a\0b",
            "<snapshot>/::test_x",
            "<snapshot>//etc/x.ambr::test_x",
            "<snapshot>/../x.ambr::test_x",
            "<snapshot>/tests/../x.ambr::test_x",
            "<dist>/",
            "<dist>/a/b",
            "<data>",
            "<config>/other",
            "<python",
        ] {
            let refused = rules.check(path).unwrap_err();
            assert!(refused.contains(&format!("{path:?}")), "{refused}");
        }
    }

    #[test]
    fn a_listed_directory_is_stored_with_a_trailing_slash() {
        let rules = project(&[]);
        assert_eq!(rules.check("data/cases/"), Ok(()));
        assert_eq!(rules.check("data/cases"), Ok(()));
    }

    #[test]
    fn without_a_project_any_leading_dotdot_passes() {
        let rules = StoredPaths::of_any_project();
        assert_eq!(rules.check("../../x.py"), Ok(()));
        assert_eq!(rules.check("<glob>/../*.json"), Ok(()));
        assert!(rules.check("/etc/passwd").is_err());
        assert!(rules.check("x/../../y.py").is_err());
    }

    #[test]
    fn tracked_directories_outside_the_root_are_relative_to_it() {
        let base = std::env::temp_dir().join(format!("difftest-paths-{}", std::process::id()));
        for dir in ["repo/app", "repo/app/src", "lib/shared"] {
            std::fs::create_dir_all(base.join(dir)).unwrap();
        }
        let root = base.join("repo/app");
        let rules = StoredPaths::of_project(
            &root,
            &[
                root.join("src"),
                base.join("lib/shared"),
                root.join("../app/src"),
            ],
        );
        assert_eq!(
            rules.outside_root,
            Some(vec!["../../lib/shared".to_owned()])
        );
        assert_eq!(rules.check("../../lib/shared/x.py"), Ok(()));
        assert!(rules.check("../../lib/x.py").is_err());
        let default = StoredPaths::of_project(&root, &[]);
        assert_eq!(default.outside_root, Some(vec![]));
        assert!(default.check("../x.py").is_err());
        std::fs::remove_dir_all(base).unwrap();
    }
}
