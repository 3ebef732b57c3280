//! The README's Rust snippets are programs a user can paste: no rustdoc hidden lines, a whole
//! `main`, and right above each one the `[dependencies]` lines it needs (every crate it names,
//! the tokio features it uses). Those lines are what the doc-test build has: every crate and
//! feature they list is a dependency (with that feature) of this crate, which compiles the
//! snippets as doc tests (`src/lib.rs`, `ReadmeDoctests`).

use std::collections::{BTreeMap, BTreeSet};

const README: &str = include_str!("../../README.md");
const TESTS_MANIFEST: &str = include_str!("../Cargo.toml");
const WORKSPACE_MANIFEST: &str = include_str!("../../Cargo.toml");

/// A fenced block of the README: its info string (`rust,no_run`, `toml`, ...), its text and the
/// line it starts on.
#[derive(Debug)]
struct Block {
    info: String,
    text: String,
    line: usize,
}

impl Block {
    fn is_rust(&self) -> bool {
        self.info.split(',').next() == Some("rust")
    }

    fn is_toml(&self) -> bool {
        self.info == "toml"
    }
}

/// Every fenced block and every heading line, in order.
enum Part {
    Heading,
    Block(Block),
}

fn parts() -> Vec<Part> {
    let mut parts = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in README.lines().enumerate() {
        if let Some(block) = open.as_mut() {
            if line.starts_with("```") {
                parts.extend(open.take().map(Part::Block));
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
        } else if line.starts_with("```") {
            open = Some(Block {
                info: line.trim_start_matches('`').trim().to_owned(),
                text: String::new(),
                line: i + 1,
            });
        } else if line.starts_with('#') {
            parts.push(Part::Heading);
        }
    }
    assert!(open.is_none(), "an unclosed code block in the README");
    parts
}

/// Each Rust snippet with the TOML block above it in the same section, if any.
fn snippets() -> Vec<(Block, Option<Block>)> {
    let mut out = Vec::new();
    let mut toml: Option<Block> = None;
    for part in parts() {
        match part {
            Part::Heading => toml = None,
            Part::Block(block) if block.is_toml() => toml = Some(block),
            Part::Block(block) if block.is_rust() => {
                out.push((block, toml.take()));
            }
            Part::Block(_) => {}
        }
    }
    out
}

/// One dependency line: its name, version requirement and features.
#[derive(Debug, Default, Clone)]
struct Dep {
    version: Option<String>,
    workspace: bool,
    features: BTreeSet<String>,
}

/// The quoted strings of `text` (`"a", "b"` → `[a, b]`).
fn quoted(text: &str) -> Vec<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Parses the dependency lines of the given `[section]`s of a manifest (the one-line forms
/// this repository uses: `name = "1"`, `name.workspace = true`, `name = { version = "1",
/// workspace = true, features = ["a"] }`), comments removed.
fn dependencies(manifest: &str, sections: &[&str]) -> BTreeMap<String, Dep> {
    let mut deps = BTreeMap::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = sections.contains(&line);
            continue;
        }
        // A `#` outside quotes starts a comment.
        let mut in_quotes = false;
        let end = line
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == '#' && !in_quotes
            })
            .map_or(line.len(), |(i, _)| i);
        let line = line[..end].trim();
        if !inside || line.is_empty() {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let mut dep = Dep::default();
        let name = if let Some(name) = key.strip_suffix(".workspace") {
            dep.workspace = value == "true";
            name
        } else if value.starts_with('"') {
            dep.version = quoted(value).into_iter().next();
            key
        } else {
            let fields = value.trim_start_matches('{').trim_end_matches('}');
            if let Some(at) = fields.find("features") {
                let list = &fields[at..];
                let list = &list[list.find('[').unwrap_or(0)..list.find(']').unwrap_or(0)];
                dep.features = quoted(list).into_iter().collect();
            }
            dep.workspace = fields.contains("workspace = true");
            if let Some(at) = fields.find("version") {
                dep.version = quoted(&fields[at..]).into_iter().next();
            }
            key
        };
        deps.insert(name.to_owned(), dep);
    }
    deps
}

/// The crates a snippet names at the root of a path (`tokio::spawn`, `use smol::...`), as
/// package names (`open_event_tokio` → `open-event-tokio`), std's left out.
fn crates_named(code: &str) -> BTreeSet<String> {
    // Comments (`// ...`) may name other crates ("with async-std: ...").
    let code: String = code
        .lines()
        .map(|line| line.split("// ").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let bytes = code.as_bytes();
    let mut out = BTreeSet::new();
    let mut i = 0;
    while let Some(at) = code[i..].find("::") {
        let end = i + at;
        let mut start = end;
        while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            start -= 1;
        }
        let ident = &code[start..end];
        let rooted = start < 2 || &code[start - 2..start] != "::";
        let lower = ident.starts_with(|c: char| c.is_ascii_lowercase());
        if rooted && lower && !["std", "core", "alloc", "self", "super", "crate"].contains(&ident) {
            out.insert(ident.replace('_', "-"));
        }
        i = end + 2;
    }
    out
}

/// Whether the version requirement `short` (`"1"`, `"0.1"`) accepts the workspace's `full`
/// (`"1.54"`, `"0.1.0"`): its components are a prefix of the other's.
fn compatible(short: &str, full: &str) -> bool {
    let full: Vec<&str> = full.split('.').collect();
    short
        .split('.')
        .enumerate()
        .all(|(i, part)| full.get(i) == Some(&part))
}

#[test]
fn the_readme_has_rust_snippets() {
    assert!(snippets().len() >= 7, "{} snippets", snippets().len());
}

#[test]
fn no_snippet_has_hidden_lines() {
    for (snippet, _) in snippets() {
        for line in snippet.text.lines() {
            let trimmed = line.trim_start();
            assert!(
                !(trimmed == "#" || trimmed.starts_with("# ")),
                "README line {}: a rustdoc hidden line, which a user pasting the snippet \
                 would not get: {line}",
                snippet.line
            );
        }
    }
}

#[test]
fn every_snippet_is_a_program_with_its_dependency_lines_above_it() {
    for (snippet, toml) in snippets() {
        let line = snippet.line;
        assert!(
            snippet.text.contains("fn main()"),
            "README line {line}: not a whole program (no fn main)"
        );
        let toml = toml.unwrap_or_else(|| {
            panic!("README line {line}: no ```toml [dependencies] block above the snippet")
        });
        assert!(
            toml.text.starts_with("[dependencies]\n"),
            "README line {}: {}",
            toml.line,
            toml.text
        );
        let deps = dependencies(&toml.text, &["[dependencies]"]);
        for name in crates_named(&snippet.text) {
            assert!(
                deps.contains_key(&name),
                "README line {line}: the snippet uses `{name}` but the Cargo.toml lines above \
                 it (line {}) do not list it",
                toml.line
            );
        }
        let tokio = deps.get("tokio").map(|d| &d.features);
        for (uses, feature) in [
            ("#[tokio::main]", "macros"),
            ("#[tokio::main]", "rt-multi-thread"),
            ("tokio::signal", "signal"),
            ("tokio::net", "net"),
        ] {
            if snippet.text.contains(uses) {
                assert!(
                    tokio.is_some_and(|f| f.contains(feature)),
                    "README line {line}: `{uses}` needs tokio's feature `{feature}` in the \
                     lines above (line {})",
                    toml.line
                );
            }
        }
    }
}

#[test]
fn the_doc_test_build_has_every_listed_crate_and_feature() {
    let ours = dependencies(TESTS_MANIFEST, &["[dependencies]", "[dev-dependencies]"]);
    let workspace = dependencies(WORKSPACE_MANIFEST, &["[workspace.dependencies]"]);
    let mut checked = 0;
    for (_, toml) in snippets() {
        let Some(toml) = toml else { continue };
        for (name, listed) in dependencies(&toml.text, &["[dependencies]"]) {
            let line = toml.line;
            let here = ours.get(&name).unwrap_or_else(|| {
                panic!(
                    "README line {line}: `{name}` is not a dependency of open-event-tests, which \
                     compiles the README's snippets; add it to tests/Cargo.toml"
                )
            });
            let shared = workspace.get(&name);
            let mut features: BTreeSet<String> = here.features.clone();
            if here.workspace
                && let Some(shared) = shared
            {
                features.extend(shared.features.iter().cloned());
            }
            for feature in &listed.features {
                assert!(
                    features.contains(feature),
                    "README line {line}: `{name}` with feature `{feature}`, which the doc-test \
                     build does not enable (it has {features:?})"
                );
            }
            let version = listed
                .version
                .as_deref()
                .unwrap_or_else(|| panic!("README line {line}: `{name}` without a version"));
            let full = shared
                .and_then(|d| d.version.as_deref())
                .unwrap_or_else(|| {
                    panic!("`{name}` is not in [workspace.dependencies] with a version")
                });
            assert!(
                compatible(version, full),
                "README line {line}: `{name} = \"{version}\"` does not accept the workspace's \
                 {full}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} dependency lines checked");
}

#[test]
fn the_parsers_read_what_the_manifests_write() {
    let deps = dependencies(
        "[dependencies]\na = \"1\" # one\nb.workspace = true\n\
         c = { workspace = true, features = [\"x\", \"y\"] }\n\
         d = { version = \"0.1\", features = [\"z\"] } # or \"w\"\n[other]\ne = \"2\"\n",
        &["[dependencies]"],
    );
    assert_eq!(
        deps.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c", "d"]
    );
    assert_eq!(deps["a"].version.as_deref(), Some("1"));
    assert!(deps["b"].workspace && deps["c"].workspace && !deps["d"].workspace);
    assert_eq!(deps["c"].features.len(), 2);
    assert_eq!(deps["d"].version.as_deref(), Some("0.1"));
    assert!(deps["d"].features.contains("z") && !deps["d"].features.contains("w"));

    let named = crates_named(
        "use open_event_tokio::model::X;\nfn main() { tokio::spawn(a::b::c()); Client::new(); \
         std::env::var(\"x\"); } // smol::spawn",
    );
    assert_eq!(
        named.into_iter().collect::<Vec<_>>(),
        ["a", "open-event-tokio", "tokio"]
    );
    assert!(compatible("1", "1.54") && compatible("0.1", "0.1.0") && !compatible("1", "10.2"));
}

#[test]
fn the_quick_starts_take_their_settings_from_the_environment() {
    let section = README
        .split("\n## Quick start\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("the README has a Quick start section");
    let snippets: Vec<&str> = section
        .split("```rust")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(snippets.len() >= 4, "{} quick starts", snippets.len());
    for snippet in snippets {
        // So they reach the emulator unchanged, with OPEN_EVENT_ENDPOINT.
        assert!(snippet.contains("ClientBuilder::from_env()?"), "{snippet}");
        assert!(!snippet.contains("std::env::var"), "{snippet}");
    }
}
