//! `cargo xtask tidy`: the layout rules that rustc and clippy do not check.
//!
//! * **No file circles**: two source files of one crate never import each other. A file's
//!   imports are the `crate::name` and `super::name` paths in its code (comments, and so
//!   intra-doc links, are not imports); a name re-exported by the crate root counts as the
//!   file that defines it.
//! * **No unsafe code**: every crate root of the workspace says `#![forbid(unsafe_code)]`.
//!
//! It reads the sources as text: it is a cheap gate, not a Rust parser, so an import written
//! in an unusual way (a macro building the path) is not seen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::workspace_root;

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    if let Some(extra) = args.first() {
        return Err(format!("`tidy` takes no arguments (got `{extra}`)"));
    }
    let mut problems = Vec::new();
    for krate in crate_dirs()? {
        let src = krate.join("src");
        let name = krate
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files = module_files(&src)?;
        problems.extend(circles(&name, &files));
        let root = files.get("").map(String::as_str).unwrap_or_default();
        if !root.contains("#![forbid(unsafe_code)]") {
            problems.push(format!(
                "{name}: the crate root does not say `#![forbid(unsafe_code)]`"
            ));
        }
    }
    let benches = workspace_root().join("benches").join("lib.rs");
    let text = std::fs::read_to_string(&benches)
        .map_err(|e| format!("cannot read {}: {e}", benches.display()))?;
    if !text.contains("#![forbid(unsafe_code)]") {
        problems.push("rt-benches: benches/lib.rs does not say `#![forbid(unsafe_code)]`".into());
    }
    if problems.is_empty() {
        eprintln!("tidy: no file circles, every crate forbids unsafe code");
        Ok(())
    } else {
        Err(format!(
            "tidy found {} problem(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        ))
    }
}

/// `crates/*` and `xtask`: the packages whose code is under `src/` (`benches` keeps its
/// library at `benches/lib.rs` and is checked for the attribute only).
fn crate_dirs() -> Result<Vec<PathBuf>, String> {
    let root = workspace_root();
    let crates = root.join("crates");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&crates)
        .map_err(|e| format!("cannot list {}: {e}", crates.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("src").is_dir())
        .collect();
    dirs.sort();
    dirs.push(root.join("xtask"));
    Ok(dirs)
}

/// Module path (`""` for the root, `a::b` for `src/a/b.rs` or `src/a/b/mod.rs`) to its code,
/// with comment lines removed.
fn module_files(src: &Path) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let code: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            out.insert(module_path(src, &path), code.join("\n"));
        }
    }
    Ok(out)
}

fn module_path(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|p| p != "mod")
        .collect();
    let joined = parts.join("::");
    match joined.as_str() {
        "lib" | "main" => String::new(),
        _ if parts.first().is_some_and(|p| p == "bin") => format!("bin::{joined}"),
        _ => joined,
    }
}

/// Pairs of modules that import each other.
fn circles(krate: &str, files: &BTreeMap<String, String>) -> Vec<String> {
    let root_names = root_reexports(files.get("").map(String::as_str).unwrap_or_default());
    let resolve = |name: &str| -> Option<String> {
        if files.contains_key(name) {
            Some(name.to_owned())
        } else {
            root_names.get(name).cloned()
        }
    };
    let mut deps: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in files {
        let mut found = BTreeSet::new();
        for name in idents_after(code, "crate::") {
            found.extend(resolve(&name));
        }
        for group in groups_after(code, "use crate::{") {
            for name in group.split(|c: char| !c.is_alphanumeric() && c != '_') {
                if !name.is_empty() {
                    found.extend(resolve(name));
                }
            }
        }
        let parent = module.rsplit_once("::").map_or("", |(p, _)| p);
        for name in idents_after(code, "super::") {
            let target = if parent.is_empty() {
                name
            } else {
                format!("{parent}::{name}")
            };
            if files.contains_key(&target) {
                found.insert(target);
            }
        }
        found.remove(module.as_str());
        found.remove("");
        deps.insert(module, found);
    }
    let mut out = Vec::new();
    for (a, targets) in &deps {
        for b in targets {
            let back = deps.get(b.as_str()).is_some_and(|d| d.contains(*a));
            if back && *a < b.as_str() {
                out.push(format!(
                    "{krate}: `{a}` and `{b}` import each other (move what both need to a leaf file)"
                ));
            }
        }
    }
    out
}

/// `pub use module::{A, B as C};` in the crate root: re-exported name to defining module.
fn root_reexports(root: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in root.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for name in names.split(',') {
            let alias = name.rsplit(" as ").next().unwrap_or(name).trim();
            if !alias.is_empty() && alias.chars().all(|c| c.is_alphanumeric() || c == '_') {
                map.insert(alias.to_owned(), module.trim().to_owned());
            }
        }
    }
    map
}

/// The identifier right after each occurrence of `prefix`.
fn idents_after(code: &str, prefix: &str) -> Vec<String> {
    code.match_indices(prefix)
        .filter(|(i, _)| {
            code[..*i]
                .chars()
                .next_back()
                .is_none_or(|c| !c.is_alphanumeric() && c != '_' && c != ':')
        })
        .map(|(i, _)| {
            code[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// The text inside the braces after each occurrence of `prefix` (which ends with `{`).
fn groups_after<'a>(code: &'a str, prefix: &str) -> Vec<&'a str> {
    code.match_indices(prefix)
        .filter_map(|(i, _)| {
            let rest = &code[i + prefix.len()..];
            let mut depth = 1usize;
            for (j, c) in rest.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(&rest[..j]);
                        }
                    }
                    _ => {}
                }
            }
            None
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
        list.iter()
            .map(|(m, c)| ((*m).to_owned(), (*c).to_owned()))
            .collect()
    }

    #[test]
    fn a_pair_importing_each_other_is_a_circle() {
        let f = files(&[
            ("", "mod a;\nmod b;\npub use b::Thing;"),
            ("a", "use crate::Thing;"),
            ("b", "use crate::a::helper;"),
        ]);
        let found = circles("demo", &f);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("`a` and `b`"), "{found:?}");
    }

    #[test]
    fn one_way_imports_and_doc_links_are_fine() {
        let f = files(&[
            ("", "mod a;\nmod b;"),
            ("a", "use crate::b::Thing;"),
            ("b", "pub struct Thing;"),
        ]);
        assert!(circles("demo", &f).is_empty());
    }

    #[test]
    fn super_paths_in_nested_modules_resolve_to_siblings() {
        let f = files(&[
            ("", "mod d;"),
            ("d", "mod x;\nmod y;"),
            ("d::x", "use super::y::Y;"),
            ("d::y", "use super::x::X;"),
        ]);
        assert_eq!(circles("demo", &f).len(), 1);
    }

    #[test]
    fn grouped_imports_count() {
        let f = files(&[
            ("", "mod a;\nmod b;"),
            ("a", "use crate::{b::B, other};"),
            ("b", "use crate::{a::A};"),
        ]);
        assert_eq!(circles("demo", &f).len(), 1);
    }
}
