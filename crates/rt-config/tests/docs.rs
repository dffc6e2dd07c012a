//! docs/configuration.md must list every variable the code reads and every key, its key table
//! must be the one the code renders, and its example file must load.
//!
//! The key table between the `BEGIN GENERATED KEY TABLE` and `END GENERATED KEY TABLE`
//! markers is rendered from [`rt_config::keys()`], that is from the key table in
//! `src/table.rs` and the constants it names. After changing a key, regenerate it with
//!
//! ```text
//! RT_BLESS=1 cargo test -p rt-config --test docs
//! ```
//!
//! which rewrites that section of `docs/configuration.md` (and nothing else) and passes.

#![cfg(feature = "loader")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure

use rt_config::ConfigLoader;

const PAGE: &str = include_str!("../../../docs/configuration.md");
const PAGE_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
const BEGIN: &str = "<!-- BEGIN GENERATED KEY TABLE";
const END: &str = "<!-- END GENERATED KEY TABLE -->";
const SOURCES: [&str; 4] = [
    include_str!("../src/keys.rs"),
    include_str!("../src/table.rs"),
    include_str!("../src/loader.rs"),
    include_str!("../src/runtime.rs"),
];

/// Every `"DYN_...` string literal in the sources (prefixes ending in `_` excluded).
fn variables_in_sources() -> Vec<String> {
    let mut found = Vec::new();
    for source in SOURCES {
        for piece in source.split("\"DYN_").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if piece[name.len()..].starts_with('"') && !name.ends_with('_') {
                found.push(format!("DYN_{name}"));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_variable_the_code_reads_is_documented() {
    let from_sources = variables_in_sources();
    assert!(from_sources.len() >= 19, "{from_sources:?}");
    let from_table = rt_config::env_vars().map(str::to_string);
    for var in from_sources.iter().cloned().chain(from_table) {
        assert!(
            PAGE.contains(&format!("`{var}`")),
            "docs/configuration.md does not document {var}"
        );
    }
}

#[test]
fn every_key_is_in_the_table_and_the_example() {
    let example = example_toml();
    for spec in rt_config::keys() {
        let row = format!("| `{}` | `{}` |", spec.name, spec.env);
        assert!(
            PAGE.contains(&row),
            "docs/configuration.md lacks the row for {}",
            spec.name
        );
        assert!(
            example
                .lines()
                .any(|l| l.starts_with(&format!("{} = ", spec.name))),
            "the example file lacks {}",
            spec.name
        );
    }
}

fn example_toml() -> String {
    let start = PAGE.find("```toml\n").expect("example TOML block") + "```toml\n".len();
    let len = PAGE[start..].find("```").expect("end of example block");
    PAGE[start..start + len].to_string()
}

#[test]
fn the_example_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.toml");
    std::fs::write(&file, example_toml()).unwrap();
    let config = ConfigLoader::new().system_files([&file]).load().unwrap();
    assert_eq!(config.compute_stack_size, Some(4 << 20));
    assert_eq!(config.system_port, Some(9090));
}

#[test]
fn documented_defaults_match_the_code() {
    let line = rt_config::RuntimeConfig::default().to_string();
    for pair in line.split(' ') {
        let (key, value) = pair.split_once('=').unwrap();
        let value = value.trim_matches('"');
        let spec = rt_config::keys().iter().find(|k| k.name == key).unwrap();
        assert!(
            spec.default.contains(value),
            "keys.rs: default of {key} says {:?}, code has {value}",
            spec.default
        );
        let row = PAGE
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap();
        let default_column = row.split(" | ").nth(3).unwrap();
        assert!(
            default_column.contains(value),
            "docs/configuration.md: default of {key} says {default_column:?}, code has {value}"
        );
    }
}

/// The example error messages on the page are what the loader really prints.
#[test]
fn the_example_errors_are_the_real_messages() {
    let block_start = PAGE.find("  ```text\n").expect("example errors block") + "  ```text\n".len();
    let block_len = PAGE[block_start..]
        .find("```")
        .expect("end of example errors block");
    let block: Vec<&str> = PAGE[block_start..block_start + block_len]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();

    let out_of_range = ConfigLoader::new()
        .system_files::<[&str; 0], &str>([])
        .env_map([("DYN_RUNTIME_NUM_WORKER_THREADS", "0")])
        .load()
        .unwrap_err()
        .to_string();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runtime.toml");
    std::fs::write(&file, "max_blocking_thread = 64\n").unwrap();
    let unknown = ConfigLoader::new()
        .system_files([&file])
        .load()
        .unwrap_err()
        .to_string()
        .replace(&file.display().to_string(), "/opt/dynamo/etc/runtime.toml");

    assert_eq!(block, [out_of_range.as_str(), unknown.as_str()]);
}

/// The key table as the code describes it.
fn rendered_key_table() -> String {
    let mut out = String::from(
        "| Key | Variable | Type | Default | Allowed |\n|-----|----------|------|---------|---------|\n",
    );
    for spec in rt_config::keys() {
        out.push_str(&format!(
            "| `{}` | `{}` | {} | {} | {} |\n",
            spec.name, spec.env, spec.ty, spec.default, spec.allowed
        ));
    }
    out
}

/// The page with its generated section replaced by `table`.
fn with_key_table(page: &str, table: &str) -> String {
    let begin = page.find(BEGIN).expect("BEGIN GENERATED KEY TABLE marker");
    let body = begin
        + page[begin..]
            .find('\n')
            .expect("end of the BEGIN marker line")
        + 1;
    let end = page[body..]
        .find(END)
        .expect("END GENERATED KEY TABLE marker")
        + body;
    format!("{}{table}{}", &page[..body], &page[end..])
}

/// Fails when the key table in docs/configuration.md differs from what the code renders;
/// with `RT_BLESS=1` it rewrites the table instead (see the module docs).
#[test]
fn the_key_table_is_rendered_from_the_code() {
    let page = std::fs::read_to_string(PAGE_PATH).unwrap();
    let wanted = with_key_table(&page, &rendered_key_table());
    if std::env::var_os("RT_BLESS").is_some_and(|v| v == "1") {
        if wanted != page {
            std::fs::write(PAGE_PATH, &wanted).unwrap();
            eprintln!("rewrote the key table of {PAGE_PATH}");
        }
        return;
    }
    if wanted != page {
        let diff: Vec<String> = page
            .lines()
            .zip(wanted.lines())
            .filter(|(have, want)| have != want)
            .map(|(have, want)| format!("  docs: {have}\n  code: {want}"))
            .collect();
        panic!(
            "the key table in docs/configuration.md is not the one the code renders; run \
             `RT_BLESS=1 cargo test -p rt-config --test docs` to regenerate it\n{}",
            diff.join("\n")
        );
    }
}
