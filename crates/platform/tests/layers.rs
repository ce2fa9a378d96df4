//! The platform's modules depend one way: a module may use modules of its own layer or of
//! lower ones, never of a higher one. The layers are written down here and in
//! docs/architecture.md; a new module must be placed in one.

use std::path::Path;

/// Lowest first.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "pure helpers",
        &[
            "domain",
            "clock",
            "crypto",
            "contentline",
            "spreadsheet",
            "seeding",
            "files",
            "observability",
        ],
    ),
    (
        "configuration and connections",
        &["config", "db", "redis", "outbound"],
    ),
    ("storage", &["store", "identity"]),
    (
        "infrastructure",
        &["jobs", "mail", "ratelimit", "realtime", "error"],
    ),
    ("shared state", &["state"]),
    (
        "services",
        &["accounts", "authz", "audit", "queue_admin", "retention"],
    ),
    ("HTTP plumbing", &["http"]),
    ("JSON API and pages", &["api", "web"]),
    ("router", &["server"]),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The top-level modules a file names with `crate::…`.
fn used_modules(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        // `crate::{a, b}` and macros (`crate::migrations!`) are not module paths.
        if !name.is_empty() && !rest[name.len()..].starts_with('!') {
            found.push(name);
        }
    }
    found
}

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            visit(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn platform_modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let module = relative
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" {
            continue;
        }
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for used in used_modules(&text) {
            let Some(theirs) = layer_of(&used) else {
                continue; // a re-export from lib.rs, such as `crate::AppError`
            };
            if theirs > own {
                wrong.push(format!(
                    "{} ({}) uses crate::{used} ({})",
                    relative.display(),
                    LAYERS[own].0,
                    LAYERS[theirs].0
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "upward dependencies:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn module_paths_are_read_from_source() {
    assert_eq!(
        used_modules("use crate::http::Principal; crate::migrations!(x); crate::{a}"),
        vec!["http"]
    );
}
