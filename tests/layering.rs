//! The runtime's shape, as a fence: its folders are the stages of a request, and a file may
//! use only its own folder and the folders below it. No file imports another in a cycle,
//! and no internal file goes through the public API (`lib.rs`, re-exports for generated
//! crates). Without this the folders would say one thing and the imports another within a
//! few changes; with it, an upward import fails here with the file, the path and the rule.
//!
//! The compiler's stages get the same fence for their order (docs/architecture.md).
//!
//! Read from the source with `syn`: every `crate::`, `super::`, `self::` and child-module
//! path of every file, in `use` items, in code and in macro arguments that read as
//! expressions, outside `#[cfg(test)]` items (tests may build whatever they check). A path
//! is an edge to the file of the longest module prefix it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The runtime's top-level modules, lowest first; each may use those before it. The
/// order is the one `runtime/src/lib.rs` and docs/architecture.md describe.
const RUNTIME_LAYERS: [&str; 7] = [
    "base", "check", "edge", "proxy", "gateway", "observe", "serve",
];

/// A module path, e.g. `["proxy", "upstream"]`; the crate root is empty.
type Module = Vec<String>;

struct Crate {
    /// Each module's file, relative to `src/`.
    files: BTreeMap<Module, PathBuf>,
    /// Each file's module's edges: (target module, the path as written).
    edges: BTreeMap<Module, Vec<(Module, String)>>,
}

fn module_of(relative: &Path) -> Module {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        name => parts.push(name.trim_end_matches(".rs").to_owned()),
    }
    parts
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = gateway_tests::files_under(dir);
    files.retain(|path| path.extension().is_some_and(|e| e == "rs"));
    files
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("cfg")
            && attr.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .to_string()
                    .split_whitespace()
                    .any(|t| t == "test")
            })
    })
}

/// Every `crate::`/`super::`/`self::` path of a file outside test items, as segments.
#[derive(Default)]
struct Paths {
    found: Vec<Vec<String>>,
}

impl Paths {
    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                let mut next = prefix.to_vec();
                next.push(p.ident.to_string());
                self.use_tree(&next, &p.tree);
            }
            syn::UseTree::Name(n) => {
                let mut path = prefix.to_vec();
                if n.ident != "self" {
                    path.push(n.ident.to_string());
                }
                self.found.push(path);
            }
            syn::UseTree::Rename(r) => {
                let mut path = prefix.to_vec();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                self.found.push(path);
            }
            syn::UseTree::Glob(_) => self.found.push(prefix.to_vec()),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&[], &item.tree);
    }

    /// A macro's arguments are tokens to syn; those that read as comma-separated
    /// expressions (`format!`, `vec!`, `assert!`, ...) are visited as such.
    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        use syn::punctuated::Punctuated;
        if let Ok(args) =
            mac.parse_body_with(Punctuated::<syn::Expr, syn::Token![,]>::parse_terminated)
        {
            for arg in &args {
                self.visit_expr(arg);
            }
        }
        syn::visit::visit_macro(self, mac);
    }

    /// `pub(crate)` and `pub(super)` name modules without using them.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        self.found
            .push(path.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, path);
    }
}

fn read_crate(src: &Path) -> Crate {
    let mut paths = rust_files(src);
    // A binary's main.rs is a crate of its own, beside the library.
    paths.retain(|path| {
        path.strip_prefix(src)
            .is_ok_and(|p| p != Path::new("main.rs"))
    });
    let files: BTreeMap<Module, PathBuf> = paths
        .iter()
        .map(|path| {
            let relative = path.strip_prefix(src).expect("under src").to_path_buf();
            (module_of(&relative), relative)
        })
        .collect();
    let mut edges = BTreeMap::new();
    for (module, relative) in &files {
        let text = std::fs::read_to_string(src.join(relative)).expect("readable source");
        let file = syn::parse_file(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", relative.display()));
        let mut visitor = Paths::default();
        visitor.visit_file(&file);
        let mut found = Vec::new();
        for path in visitor.found {
            // A bare path that starts with a child module (`redis::Shared` beside
            // `mod redis;`) is relative to this module.
            let child = |first: &String| {
                let mut child = module.clone();
                child.push(first.clone());
                files.contains_key(&child)
            };
            let path = match path.first() {
                Some(first) if child(first) => [vec!["self".to_owned()], path].concat(),
                _ => path,
            };
            let Some(absolute) = absolute(module, &path) else {
                continue;
            };
            // The longest prefix that is a module of this crate (a file).
            let target = (0..=absolute.len())
                .rev()
                .map(|n| absolute[..n].to_vec())
                .find(|prefix| files.contains_key(prefix))
                .expect("the crate root is a module");
            if &target != module {
                found.push((target, path.join("::")));
            }
        }
        found.sort();
        found.dedup();
        edges.insert(module.clone(), found);
    }
    Crate { files, edges }
}

/// `crate::a::b` and `super::b` made absolute from `module`; `None` for other paths.
fn absolute(module: &Module, path: &[String]) -> Option<Vec<String>> {
    let mut base = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") | Some("self") => module.clone(),
        _ => return None,
    };
    let mut rest = path;
    while let Some(first) = rest.first() {
        match first.as_str() {
            "crate" => {}
            "self" => {}
            "super" => {
                base.pop();
            }
            _ => break,
        }
        rest = &rest[1..];
    }
    base.extend(rest.iter().cloned());
    Some(base)
}

/// Every cycle among the files (Tarjan's strongly connected components of two or more).
fn cycles(krate: &Crate) -> Vec<Vec<Module>> {
    struct Tarjan<'a> {
        graph: &'a BTreeMap<Module, Vec<(Module, String)>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        on_stack: BTreeSet<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    impl<'a> Tarjan<'a> {
        fn visit(&mut self, node: &'a Module) {
            let n = self.index.len();
            self.index.insert(node, n);
            self.low.insert(node, n);
            self.stack.push(node);
            self.on_stack.insert(node);
            for (next, _) in self.graph.get(node).into_iter().flatten() {
                if !self.index.contains_key(next) {
                    self.visit(next);
                    let low = self.low[node].min(self.low[next]);
                    self.low.insert(node, low);
                } else if self.on_stack.contains(next) {
                    let low = self.low[node].min(self.index[next]);
                    self.low.insert(node, low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut tarjan = Tarjan {
        graph: &krate.edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in krate.edges.keys() {
        if !tarjan.index.contains_key(node) {
            tarjan.visit(node);
        }
    }
    tarjan.found
}

fn name(krate: &Crate, module: &Module) -> String {
    krate.files[module].display().to_string()
}

/// The problems of a crate whose top-level modules are `layers`, lowest first. Where
/// `root_is_api`, the crate root is the public API and nothing inside may use it; else it
/// is the crate's leaf (the compiler's `VERSION`).
fn violations(krate: &Crate, layers: &[&str], root_is_api: bool) -> Vec<String> {
    let rank = |module: &Module| -> Option<usize> {
        let top = module.first()?;
        Some(
            layers
                .iter()
                .position(|layer| layer == top)
                .unwrap_or_else(|| panic!("`{top}` is in no layer of {layers:?}")),
        )
    };
    let mut problems = Vec::new();
    for (module, edges) in &krate.edges {
        // The crate root (the public API) may use everything.
        let Some(from) = rank(module) else { continue };
        for (target, written) in edges {
            match rank(target) {
                None if !root_is_api => {}
                None => problems.push(format!(
                    "{} uses `{written}` through the public API (lib.rs); name the module that \
                     defines it",
                    name(krate, module)
                )),
                Some(to) if to > from => problems.push(format!(
                    "{} ({}) uses `{written}` from {} ({}), a stage above it",
                    name(krate, module),
                    layers[from],
                    name(krate, target),
                    layers[to]
                )),
                Some(_) => {}
            }
        }
    }
    for cycle in cycles(krate) {
        let files: Vec<String> = cycle.iter().map(|m| name(krate, m)).collect();
        let detail: Vec<String> = cycle
            .iter()
            .flat_map(|from| {
                krate.edges[from]
                    .iter()
                    .filter(|(to, _)| cycle.contains(to))
                    .map(move |(to, written)| {
                        format!("{} -> {} (`{written}`)", name(krate, from), name(krate, to))
                    })
            })
            .collect();
        problems.push(format!(
            "import cycle among {}: {}",
            files.join(", "),
            detail.join("; ")
        ));
    }
    problems
}

/// The compiler's stages (docs/architecture.md, "The compiler's stages"), after the
/// shared vocabulary they all use; `init`, `dev` and `diff` are commands of their own (`dev` runs
/// all the stages, for `gateway dev`; `diff` compares two gateways' IRs), and `cli.rs` wires them to the commands.
const COMPILER_LAYERS: [&str; 13] = [
    "diag", "http", "upstream", "ir", "load", "lower", "check", "emit", "write", "init", "dev",
    "diff", "cli",
];

fn runtime_src() -> PathBuf {
    gateway_tests::workspace().join("runtime").join("src")
}

#[test]
fn the_runtimes_imports_run_down_its_stages_without_cycles() {
    let krate = read_crate(&runtime_src());
    let problems = violations(&krate, &RUNTIME_LAYERS, true);
    assert!(
        problems.is_empty(),
        "the runtime's layering is broken (see runtime/src/lib.rs):\n{}",
        problems.join("\n")
    );
}

/// The compiler's stages import only earlier ones. Cycles among the files of one stage
/// are not fenced there: a stage's `mod.rs` is its driver and holds the helpers its files
/// share (load/manifest, load/spec, lower, emit).
#[test]
fn the_compilers_stages_import_only_earlier_ones() {
    let krate = read_crate(&gateway_tests::workspace().join("cli").join("src"));
    let problems: Vec<String> = violations(&krate, &COMPILER_LAYERS, false)
        .into_iter()
        .filter(|p| !p.starts_with("import cycle"))
        .collect();
    assert!(
        problems.is_empty(),
        "the compiler's stages are out of order:\n{}",
        problems.join("\n")
    );
}

#[test]
fn every_runtime_folder_says_what_it_owns_and_may_use() {
    let krate = read_crate(&runtime_src());
    for relative in krate.files.values() {
        // The stages' folders; deeper ones are modules of a stage.
        if relative.components().count() == 2 && relative.ends_with("mod.rs") {
            let text = std::fs::read_to_string(runtime_src().join(relative)).unwrap();
            assert!(
                text.starts_with("//!") && text.contains("May use"),
                "{} must open with a `//!` paragraph saying what the folder owns and \
                 what it may use",
                relative.display()
            );
        }
    }
}

/// The fence itself: an upward import, a cycle and a use of the public API from inside
/// are each caught (on a crate made for the purpose).
#[test]
fn the_fence_catches_upward_imports_cycles_and_the_public_api() {
    let dir = std::env::temp_dir().join(format!("layering-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let write = |path: &str, text: &str| {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("lib.rs", "mod low;\nmod high;\npub use low::a::A;\n");
    write(
        "low/mod.rs",
        "//! Low. May use: nothing.\nmod a;\nmod b;\nmod c;\npub struct L(c::C);\n",
    );
    write("low/c.rs", "pub struct C(Box<super::L>);\n");
    write(
        "low/a.rs",
        "use super::b::B;\npub struct A;\n#[cfg(test)]\nmod tests { use crate::high::H; }\n",
    );
    write("low/b.rs", "pub struct B(crate::low::a::A);\n");
    write(
        "high/mod.rs",
        "//! High. May use: low.\npub struct H(crate::low::a::A, crate::A);\n",
    );
    let krate = read_crate(&dir);
    let fine = violations(&krate, &["low", "high"], true);
    assert_eq!(
        fine.len(),
        3,
        "expected the cycles a <-> b and mod <-> c, and the public-API use: {fine:#?}"
    );
    assert!(
        fine.iter()
            .any(|p| p.starts_with("import cycle among low/mod.rs, low/c.rs")),
        "a bare path to a child module is an edge: {fine:#?}"
    );
    assert!(
        fine.iter()
            .any(|p| p.starts_with("import cycle among low/a.rs, low/b.rs")),
        "{fine:#?}"
    );
    assert!(
        fine.iter()
            .any(|p| p.contains("uses `crate::A` through the public API")),
        "{fine:#?}"
    );
    // The test module's upward import is not counted; a real one is.
    write("low/b.rs", "pub struct B(crate::high::H);\n");
    let krate = read_crate(&dir);
    let upward = violations(&krate, &["low", "high"], true);
    assert!(
        upward
            .iter()
            .any(|p| p.contains("low/b.rs (low) uses `crate::high::H` from high/mod.rs (high)")),
        "{upward:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/architecture.md's map of `runtime/src/` is the folder tree: every entry exists and
/// every file is under an entry.
#[test]
fn the_architecture_map_is_the_runtimes_folder_tree() {
    let doc = std::fs::read_to_string(gateway_tests::workspace().join("docs/architecture.md"))
        .expect("docs/architecture.md");
    let start = doc
        .find("```\nruntime/src/\n")
        .expect("architecture.md has a ```-block that starts with runtime/src/");
    let block = &doc[start + 4..];
    let block = &block[..block.find("```").expect("the block ends")];
    // (depth, name) of each entry: two spaces a level; continuation lines start deeper
    // with no name of a file or folder.
    let mut stack: Vec<String> = Vec::new();
    let mut entries: Vec<PathBuf> = Vec::new();
    for line in block.lines().skip(1) {
        let depth = (line.len() - line.trim_start().len()) / 2;
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if depth == 0 || depth > stack.len() + 1 || !(name.ends_with(".rs") || name.ends_with('/'))
        {
            continue;
        }
        stack.truncate(depth - 1);
        stack.push(name.trim_end_matches('/').to_owned());
        entries.push(stack.iter().collect());
    }
    let src = runtime_src();
    let mut problems = Vec::new();
    for entry in &entries {
        if !src.join(entry).exists() {
            problems.push(format!(
                "the map names {}, which does not exist",
                entry.display()
            ));
        }
    }
    for file in rust_files(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        // A folder's mod.rs is the folder's entry; a folder the map does not open covers
        // every file in it.
        let leaf = |entry: &PathBuf| !entries.iter().any(|e| e != entry && e.starts_with(entry));
        let covered = entries.iter().any(|entry| {
            relative == entry
                || relative == entry.join("mod.rs")
                || (src.join(entry).is_dir() && leaf(entry) && relative.starts_with(entry))
        }) || relative == Path::new("lib.rs");
        if !covered {
            problems.push(format!("{} is not in the map", relative.display()));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md's runtime map is out of date:\n{}",
        problems.join("\n")
    );
}

/// The runtime's lib.rs is its public API and nothing else: module declarations and
/// re-exports, grouped in namespaces, so that moving an internal item changes one `use`
/// here and no generated code.
#[test]
fn the_runtimes_lib_rs_is_re_exports_only() {
    fn only_re_exports(items: &[syn::Item], at: &str, problems: &mut Vec<String>) {
        for item in items {
            match item {
                syn::Item::Use(_) => {}
                syn::Item::Mod(m) => match &m.content {
                    None => {}
                    Some((_, inner)) => {
                        only_re_exports(inner, &format!("{at}::{}", m.ident), problems)
                    }
                },
                other => problems.push(format!(
                    "{at} defines `{}`; define it in the stage that owns it and re-export it",
                    quote::ToTokens::to_token_stream(other)
                        .to_string()
                        .chars()
                        .take(60)
                        .collect::<String>()
                )),
            }
        }
    }
    let text = std::fs::read_to_string(runtime_src().join("lib.rs")).unwrap();
    let file = syn::parse_file(&text).expect("lib.rs parses");
    let mut problems = Vec::new();
    only_re_exports(&file.items, "lib.rs", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
