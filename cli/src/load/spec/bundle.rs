//! Bundling: every external file `$ref` resolved into the root document.
//!
//! Later stages see one self-contained document per service. Components of other files are
//! hoisted into the root's `components` (renamed only on a real collision) so that shared
//! schemas stay shared; anything else is inlined. Cycles, runaway copies and nesting are
//! bounded here, because this is the one pass that makes the document bigger than the files.
//! Every move is recorded in [`Origins`] so diagnostics still point into the user's files.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::keywords::UNSUPPORTED_KEYWORDS;
use super::read::parse_text;
use super::refs::{RefTarget, names_file, normalize_path, parse_ref, suggestion};
use super::walk::{Kind, MAX_DEPTH, children, descend_mut, push_all, ref_of};
use super::{
    DANGLING_REF, INVALID, Origins, REF_CYCLE, REF_SIBLINGS_IGNORED, REMOTE_REF, SpecVersion,
    TOO_LARGE,
};
use crate::diag::{Diagnostic, Location, pointer_push, pointer_tokens};
use crate::load::sources::Sources;

/// Nested inlines beyond this are hoisted instead: a chain this long is a cycle in disguise.
const MAX_INLINE_NESTING: usize = 32;
/// Inlining copies; a chain of files each inlining the next twice doubles per level.
const MAX_BUNDLED_NODES: usize = 1_000_000;

/// Siblings of a schema `$ref` that would have constrained the value.
const VALIDATION_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "const",
    "format",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "properties",
    "additionalProperties",
    "items",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "nullable",
    "readOnly",
    "writeOnly",
];

/// The component sections of OpenAPI 3.0 (3.1's `pathItems` has no 3.0 counterpart).
const SECTIONS: &[&str] = &[
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
];

// ---------------------------------------------------------------------------------------
// Bundling

enum FileState {
    Loaded(Value),
    /// Could not be read: every ref to it is dangling.
    Missing(String),
    /// Read but not parsed; already reported once.
    Broken,
}

/// A hoisted component waiting to have its own refs processed.
struct Job {
    file: PathBuf,
    pointer: String,
    kind: Kind,
    section: &'static str,
    name: String,
}

type TargetKey = (PathBuf, String, Kind);

struct Inlined {
    value: Value,
    nodes: usize,
    /// Origins inside the inlined value, relative to where it lands.
    origins: Vec<(String, PathBuf, String)>,
}

pub(super) struct Bundler<'a> {
    sources: &'a mut Sources,
    pub(super) diags: Vec<Diagnostic>,
    /// The root file as given (what diagnostics name).
    root: PathBuf,
    /// The root file normalized (what refs back to it are compared with).
    root_key: PathBuf,
    files: BTreeMap<PathBuf, FileState>,
    pub(super) origins: Origins,
    /// Bundled pointers recorded since the start, so an inline can find its nested origins.
    origin_log: Vec<String>,
    /// (file, pointer, section) -> the ref that now names it in the root.
    hoisted: BTreeMap<(PathBuf, String, &'static str), String>,
    /// Names taken in each section, with the raw value they hold (to spot true duplicates).
    taken: BTreeMap<&'static str, BTreeMap<String, Value>>,
    jobs: VecDeque<Job>,
    /// Finished hoisted components, in the order they were named.
    out: Vec<(&'static str, String, Value)>,
    stack: Vec<TargetKey>,
    recursive: BTreeSet<TargetKey>,
    cache: BTreeMap<TargetKey, Inlined>,
    bundled_nodes: usize,
    too_large: bool,
    pub(super) too_deep: bool,
    /// In 3.1 the keywords next to a schema's `$ref` apply too; in 3.0 they are ignored.
    version: SpecVersion,
}

impl<'a> Bundler<'a> {
    pub(super) fn new(
        root: &Path,
        sources: &'a mut Sources,
        raw: Value,
        version: SpecVersion,
    ) -> Bundler<'a> {
        let root_key = normalize_path(root);
        let mut taken: BTreeMap<&'static str, BTreeMap<String, Value>> = BTreeMap::new();
        if let Some(Value::Object(components)) = raw.get("components") {
            for section in SECTIONS {
                if let Some(Value::Object(entries)) = components.get(*section) {
                    let names = taken.entry(section).or_default();
                    for (name, value) in entries {
                        names.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        let mut origins = Origins {
            root: root.to_path_buf(),
            map: BTreeMap::new(),
        };
        origins.record(String::new(), root.to_path_buf(), String::new());
        let mut files = BTreeMap::new();
        files.insert(root_key.clone(), FileState::Loaded(raw));
        Bundler {
            sources,
            diags: Vec::new(),
            root: root.to_path_buf(),
            root_key,
            files,
            origins,
            origin_log: Vec::new(),
            hoisted: BTreeMap::new(),
            taken,
            jobs: VecDeque::new(),
            out: Vec::new(),
            stack: Vec::new(),
            recursive: BTreeSet::new(),
            cache: BTreeMap::new(),
            bundled_nodes: 0,
            too_large: false,
            too_deep: false,
            version,
        }
    }

    fn is_root(&self, file: &Path) -> bool {
        file == self.root || normalize_path(file) == self.root_key
    }

    fn record_origin(&mut self, bundled: String, file: &Path, pointer: &str) {
        self.origin_log.push(bundled.clone());
        self.origins
            .record(bundled, file.to_path_buf(), pointer.to_owned());
    }

    /// Processes every ref in `value`, which sits at `src` in `file` and lands at `out` in the
    /// bundled document.
    pub(super) fn walk(
        &mut self,
        value: &mut Value,
        kind: Kind,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            if !self.too_deep {
                self.too_deep = true;
                self.diags.push(
                    Diagnostic::error(INVALID, "the spec is nested too deeply to process")
                        .at(Location::new(file, src))
                        .help("flatten it with named components under `components/schemas`"),
                );
            }
            return;
        }
        let Value::Object(map) = value else {
            return;
        };
        if kind == Kind::Schema && self.version == SpecVersion::V31 {
            ref_beside_keywords_as_all_of(map);
        }
        if let Some(reference) = ref_of(map, kind) {
            let reference = reference.to_owned();
            self.resolve(value, kind, &reference, file, src, out, depth, false);
            return;
        }
        if kind == Kind::Schema {
            self.discriminator_mapping(map, file, src, out, depth);
        }
        for child in children(map, kind) {
            let child_src = push_all(src, &child.tokens);
            let child_out = push_all(out, &child.tokens);
            if let Some(slot) = descend_mut(value, &child.tokens) {
                self.walk(
                    slot,
                    child.kind,
                    file,
                    &child_src,
                    &child_out,
                    depth + child.tokens.len(),
                );
            }
        }
    }

    /// `discriminator.mapping` values are refs in string form: rewrite them like refs.
    fn discriminator_mapping(
        &mut self,
        map: &mut Map<String, Value>,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
    ) {
        let Some(Value::Object(mapping)) = map
            .get_mut("discriminator")
            .and_then(|d| d.get_mut("mapping"))
        else {
            return;
        };
        let in_root = self.is_root(file);
        for (key, target) in mapping.iter_mut() {
            let Value::String(text) = target else {
                continue;
            };
            let reference = if text.contains('#') || names_file(text) {
                text.clone()
            } else if in_root {
                continue;
            } else {
                // A bare name means a schema of the file it is written in.
                format!(
                    "#/components/schemas/{}",
                    pointer_push("", text).trim_start_matches('/')
                )
            };
            let entry_src = pointer_push(
                &pointer_push(&pointer_push(src, "discriminator"), "mapping"),
                key,
            );
            let entry_out = pointer_push(
                &pointer_push(&pointer_push(out, "discriminator"), "mapping"),
                key,
            );
            let mut holder = Value::Object(Map::from_iter([(
                "$ref".to_owned(),
                Value::String(reference.clone()),
            )]));
            // Diagnostics name `<entry>/$ref`, which resolves to the entry itself for positions.
            self.resolve(
                &mut holder,
                Kind::Schema,
                &reference,
                file,
                &entry_src,
                &entry_out,
                depth,
                true,
            );
            if let Some(Value::String(resolved)) = holder.get("$ref") {
                *text = resolved.clone();
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn resolve(
        &mut self,
        value: &mut Value,
        kind: Kind,
        reference: &str,
        file: &Path,
        src: &str,
        out: &str,
        depth: usize,
        force_hoist: bool,
    ) {
        let ref_location = Location::new(file, pointer_push(src, "$ref"));
        let siblings = self.take_siblings(value, kind, file, src);
        let (target_file, pointer) = match parse_ref(reference) {
            RefTarget::Remote => {
                self.diags.push(
                    Diagnostic::error(
                        REMOTE_REF,
                        format!("`{reference}` is a remote reference; remote documents are not fetched"),
                    )
                    .at(ref_location)
                    .help("download the document next to the spec and reference it by a relative path"),
                );
                return;
            }
            RefTarget::Anchor(anchor) => {
                self.diags.push(
                    Diagnostic::error(
                        DANGLING_REF,
                        format!("`{reference}` uses the anchor `#{anchor}`; only JSON pointer fragments are supported"),
                    )
                    .at(ref_location)
                    .help("write the fragment as a JSON pointer, e.g. `#/components/schemas/Name`"),
                );
                return;
            }
            RefTarget::Local {
                file: target,
                pointer,
            } => {
                let target_file = if target.is_empty() {
                    file.to_path_buf()
                } else {
                    let joined = file.parent().unwrap_or(Path::new("")).join(&target);
                    let normalized = normalize_path(&joined);
                    if normalized == self.root_key {
                        self.root.clone()
                    } else {
                        normalized
                    }
                };
                (target_file, pointer)
            }
        };
        let to_root = self.is_root(&target_file);
        if to_root && !kind.always_inline() {
            // The root is the bundle: its own pointers stay valid (checked at the end).
            if !self.is_root(file) {
                let fragment = reference
                    .split_once('#')
                    .map(|(_, f)| f)
                    .unwrap_or_default();
                set_ref(value, format!("#{fragment}"));
            }
            return;
        }
        let Some(target) = self.target(&target_file, &pointer, reference, file, &ref_location)
        else {
            return;
        };
        let tokens = pointer_tokens(&pointer);
        let component = match tokens.as_slice() {
            [components, section, name] if components == "components" => SECTIONS
                .iter()
                .find(|s| **s == section.as_str())
                .map(|s| (*s, name.clone())),
            _ => None,
        };
        if !kind.always_inline()
            && let Some((section, name)) = component
        {
            let r = self.hoist(&target_file, &pointer, section, &name, kind, &target);
            set_ref(value, r);
            return;
        }
        if force_hoist {
            if let Some(r) = self.hoist_derived(
                &target_file,
                &pointer,
                kind,
                &target,
                reference,
                &ref_location,
            ) {
                set_ref(value, r);
            }
            return;
        }
        self.inline(
            value,
            siblings,
            kind,
            reference,
            &target_file,
            &pointer,
            target,
            &ref_location,
            out,
            depth,
        );
    }

    /// Drops the members next to a `$ref` (warning when they constrained a schema); path items
    /// keep them to merge with the target.
    fn take_siblings(
        &mut self,
        value: &mut Value,
        kind: Kind,
        file: &Path,
        src: &str,
    ) -> Map<String, Value> {
        let Value::Object(map) = value else {
            return Map::new();
        };
        let mut siblings = Map::new();
        let keys: Vec<String> = map.keys().filter(|k| *k != "$ref").cloned().collect();
        for key in keys {
            if let Some(v) = map.shift_remove(&key) {
                siblings.insert(key, v);
            }
        }
        if kind == Kind::Schema {
            let constraining: Vec<&str> = siblings
                .keys()
                .map(String::as_str)
                .filter(|k| VALIDATION_KEYWORDS.contains(k) || UNSUPPORTED_KEYWORDS.contains(k))
                .collect();
            if let Some(first) = constraining.first() {
                let list = constraining
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.diags.push(
                    Diagnostic::warning(
                        REF_SIBLINGS_IGNORED,
                        format!("keywords next to `$ref` are ignored: {list}"),
                    )
                    .at(Location::key(file, pointer_push(src, first)))
                    .help("to apply them too, write `allOf: [{$ref: ...}]` and put the keywords beside `allOf`"),
                );
            }
        }
        if kind.always_inline() {
            siblings
        } else {
            Map::new()
        }
    }

    /// The raw value a ref points to, or a diagnostic at the ref.
    fn target(
        &mut self,
        file: &Path,
        pointer: &str,
        reference: &str,
        from: &Path,
        at: &Location,
    ) -> Option<Value> {
        let key = normalize_path(file);
        if !self.files.contains_key(&key) {
            let state = match self.sources.read(file) {
                Ok(text) => match parse_text(file, &text, &mut self.diags) {
                    Some(doc) => FileState::Loaded(doc),
                    None => FileState::Broken,
                },
                Err(error) => FileState::Missing(error.to_string()),
            };
            self.files.insert(key.clone(), state);
        }
        let doc = match self.files.get(&key) {
            Some(FileState::Loaded(doc)) => doc,
            Some(FileState::Missing(error)) => {
                let error = error.clone();
                self.diags.push(
                    Diagnostic::error(
                        DANGLING_REF,
                        format!(
                            "`{reference}` points to `{}`, which cannot be read: {error}",
                            file.display()
                        ),
                    )
                    .at(at.clone())
                    .help(format!(
                        "file refs are relative to the file that contains them (`{}`)",
                        from.display()
                    )),
                );
                return None;
            }
            Some(FileState::Broken) | None => return None,
        };
        if let Some(found) = doc.pointer(pointer) {
            return Some(found.clone());
        }
        let mut diagnostic = Diagnostic::error(
            DANGLING_REF,
            format!(
                "`{reference}` does not resolve: `{}` has nothing at `{pointer}`",
                file.display()
            ),
        )
        .at(at.clone());
        let internal = reference.starts_with('#');
        diagnostic = if internal && !self.is_root(from) {
            diagnostic.help(format!(
                "a `#/...` ref points into the file it is written in (`{}`); to reach the root document put its relative path before the `#`",
                from.display()
            ))
        } else {
            match suggestion(doc, pointer) {
                Some(hint) => diagnostic.help(hint),
                None => diagnostic
                    .help("check the pointer; JSON pointers escape `/` as `~1` and `~` as `~0`"),
            }
        };
        self.diags.push(diagnostic);
        None
    }

    /// Names `(file, pointer)` in the root's `components/<section>` and returns the ref to it.
    fn hoist(
        &mut self,
        file: &Path,
        pointer: &str,
        section: &'static str,
        base: &str,
        kind: Kind,
        raw: &Value,
    ) -> String {
        let key = (normalize_path(file), pointer.to_owned(), section);
        if let Some(r) = self.hoisted.get(&key) {
            return r.clone();
        }
        // Equal values are the same component only when nothing inside depends on which
        // file's refs it holds.
        let shareable = !contains_ref(raw);
        let names = self.taken.entry(section).or_default();
        let mut n = 1usize;
        let name = loop {
            let candidate = if n == 1 {
                base.to_owned()
            } else {
                format!("{base}_{n}")
            };
            match names.get(&candidate) {
                None => {
                    names.insert(candidate.clone(), raw.clone());
                    self.jobs.push_back(Job {
                        file: file.to_path_buf(),
                        pointer: pointer.to_owned(),
                        kind,
                        section,
                        name: candidate.clone(),
                    });
                    break candidate;
                }
                Some(existing) if shareable && existing == raw => break candidate,
                Some(_) => n += 1,
            }
        };
        let r = format!(
            "#{}",
            pointer_push(&pointer_push("/components", section), &name)
        );
        self.hoisted.insert(key, r.clone());
        r
    }

    /// Hoists a target that has no component name (it must not be inlined).
    fn hoist_derived(
        &mut self,
        file: &Path,
        pointer: &str,
        kind: Kind,
        raw: &Value,
        reference: &str,
        at: &Location,
    ) -> Option<String> {
        let Some(section) = kind.section() else {
            self.diags.push(
                Diagnostic::error(
                    REF_CYCLE,
                    format!("`{reference}` refers back to itself through other files"),
                )
                .at(at.clone())
                .help("a path item or callback cannot contain itself; break the cycle"),
            );
            return None;
        };
        let base = pointer_tokens(pointer)
            .into_iter()
            .rev()
            .find(|t| !t.is_empty())
            .or_else(|| file.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_default();
        Some(self.hoist(file, pointer, section, &sanitize_name(&base), kind, raw))
    }

    #[allow(clippy::too_many_arguments)]
    fn inline(
        &mut self,
        value: &mut Value,
        siblings: Map<String, Value>,
        kind: Kind,
        reference: &str,
        file: &Path,
        pointer: &str,
        target: Value,
        at: &Location,
        out: &str,
        depth: usize,
    ) {
        let key: TargetKey = (normalize_path(file), pointer.to_owned(), kind);
        // Once a target has a name (a discriminator mapping needs one), every use refers to
        // it: a oneOf branch and its mapping entry must name the same schema.
        if let Some(section) = kind.section()
            && let Some(r) = self.hoisted.get(&(key.0.clone(), key.1.clone(), section))
        {
            set_ref(value, r.clone());
            return;
        }
        let hoist_instead = self.recursive.contains(&key)
            || self.stack.contains(&key)
            || self.stack.len() >= MAX_INLINE_NESTING
            || self.too_large;
        if hoist_instead {
            if self.stack.contains(&key) {
                self.recursive.insert(key);
            }
            if let Some(r) = self.hoist_derived(file, pointer, kind, &target, reference, at) {
                set_ref(value, r);
            }
            return;
        }
        if let Some(nodes) = self.cache.get(&key).map(|c| c.nodes) {
            // Charge before copying: the copy itself is what the budget protects against.
            if !self.charge(nodes, at) {
                return;
            }
            let Some(cached) = self.cache.get(&key) else {
                return;
            };
            let copy = cached.value.clone();
            let nested: Vec<(String, PathBuf, String)> = cached
                .origins
                .iter()
                .map(|(rel, f, p)| (format!("{out}{rel}"), f.clone(), p.clone()))
                .collect();
            for (bundled, f, p) in nested {
                self.record_origin(bundled, &f, &p);
            }
            *value = merge_siblings(copy, siblings);
            return;
        }

        let start = self.origin_log.len();
        self.record_origin(out.to_owned(), file, pointer);
        let mut content = target.clone();
        self.stack.push(key.clone());
        self.walk(&mut content, kind, file, pointer, out, depth);
        self.stack.pop();

        let nested: Vec<String> = self.origin_log.split_off(start);
        if self.recursive.contains(&key) {
            // It met itself on the way down: the copy holds a ref to its hoisted self, so
            // use that ref here too rather than keep one level of copy.
            for bundled in &nested {
                self.origins.map.remove(bundled);
            }
            if let Some(r) = self.hoist_derived(file, pointer, kind, &target, reference, at) {
                set_ref(value, r);
            }
            return;
        }
        let nodes = count_nodes(&content);
        if !self.charge(nodes, at) {
            return;
        }
        let origins = nested
            .iter()
            .filter_map(|bundled| {
                let (f, p) = self.origins.map.get(bundled)?;
                let rel = bundled.strip_prefix(out)?;
                Some((rel.to_owned(), f.clone(), p.clone()))
            })
            .collect();
        self.origin_log.extend(nested);
        self.cache.insert(
            key,
            Inlined {
                value: content.clone(),
                nodes,
                origins,
            },
        );
        *value = merge_siblings(content, siblings);
    }

    /// Counts inlined nodes against the budget; false (reported once) when it is spent.
    fn charge(&mut self, nodes: usize, at: &Location) -> bool {
        self.bundled_nodes = self.bundled_nodes.saturating_add(nodes);
        if self.bundled_nodes <= MAX_BUNDLED_NODES {
            return true;
        }
        if !self.too_large {
            self.too_large = true;
            self.diags.push(
                Diagnostic::error(TOO_LARGE, "inlining external refs makes the spec too large")
                    .at(at.clone())
                    .help("reference shared parts as components (`file#/components/schemas/Name`) so they are hoisted, not copied"),
            );
        }
        false
    }

    pub(super) fn drain_jobs(&mut self) {
        while let Some(job) = self.jobs.pop_front() {
            let key = normalize_path(&job.file);
            let Some(FileState::Loaded(doc)) = self.files.get(&key) else {
                continue;
            };
            let Some(mut content) = doc.pointer(&job.pointer).cloned() else {
                continue;
            };
            let out = pointer_push(&pointer_push("/components", job.section), &job.name);
            self.record_origin(out.clone(), &job.file, &job.pointer);
            self.walk(&mut content, job.kind, &job.file, &job.pointer, &out, 3);
            self.out.push((job.section, job.name, content));
        }
    }

    pub(super) fn insert_hoisted(&mut self, document: &mut Value) {
        if self.out.is_empty() {
            return;
        }
        let Value::Object(root) = document else {
            return;
        };
        let components = root
            .entry("components")
            .or_insert_with(|| Value::Object(Map::new()));
        let Value::Object(components) = components else {
            // Not a mapping: openapiv3 reports it; there is nowhere to put components.
            return;
        };
        for (section, name, value) in std::mem::take(&mut self.out) {
            let entries = components
                .entry(section)
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(entries) = entries {
                entries.insert(name, value);
            }
        }
    }
}

fn set_ref(value: &mut Value, reference: String) {
    *value = Value::Object(Map::from_iter([(
        "$ref".to_owned(),
        Value::String(reference),
    )]));
}

/// JSON Schema 2020-12 (OpenAPI 3.1) applies the keywords beside a `$ref` as well as its
/// target: `{$ref: X, maxLength: 3}` is `{allOf: [{$ref: X}], maxLength: 3}`, which is
/// what it becomes (annotations alone beside a `$ref` change nothing and are dropped).
fn ref_beside_keywords_as_all_of(map: &mut Map<String, Value>) {
    let constrained = map.keys().any(|k| {
        k != "$ref"
            && (VALIDATION_KEYWORDS.contains(&k.as_str())
                || UNSUPPORTED_KEYWORDS.contains(&k.as_str()))
    });
    if !constrained {
        return;
    }
    let Some(reference) = map.shift_remove("$ref") else {
        return;
    };
    let entry = Value::Object(Map::from_iter([("$ref".to_owned(), reference)]));
    match map.get_mut("allOf") {
        Some(Value::Array(list)) => list.push(entry),
        _ => {
            map.insert("allOf".to_owned(), Value::Array(vec![entry]));
        }
    }
}

/// A path item's own members next to its `$ref` fill in what the target lacks.
fn merge_siblings(mut value: Value, siblings: Map<String, Value>) -> Value {
    if let Value::Object(map) = &mut value {
        for (key, sibling) in siblings {
            map.entry(key).or_insert(sibling);
        }
    }
    value
}

fn sanitize_name(raw: &str) -> String {
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.chars().all(|c| c == '_') {
        "Schema".to_owned()
    } else {
        name
    }
}

fn contains_ref(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.get("$ref").is_some_and(Value::is_string) {
                    return true;
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    false
}

fn count_nodes(value: &Value) -> usize {
    let mut count = 0;
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        count += 1;
        match v {
            Value::Object(map) => stack.extend(map.values()),
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostics;
    use crate::load::spec::UNSUPPORTED_KEYWORD;
    use crate::load::spec::tests::{INFO, codes, fixture, load};

    #[test]
    fn bundles_paths_and_cyclic_schemas_across_files() {
        let root = format!(
            "openapi: 3.0.3\n{INFO}paths:\n  /users:\n    $ref: paths/users.yaml\ncomponents:\n  schemas:\n    Error: {{type: string}}\n"
        );
        let users = r#"
get:
  operationId: listUsers
  responses:
    '200':
      description: ok
      content:
        application/json:
          schema:
            type: array
            items: {$ref: '../schemas/user.yaml#/components/schemas/User'}
    default:
      description: error
      content:
        application/json:
          schema: {$ref: '../schemas/user.yaml#/components/schemas/Error'}
"#;
        let user = r#"
components:
  schemas:
    User:
      type: object
      properties:
        id: {type: string}
        team: {$ref: 'team.yaml#/components/schemas/Team'}
        friends:
          type: array
          items: {$ref: '#/components/schemas/User'}
    Error: {type: object, properties: {message: {type: string}}}
"#;
        let team = r#"
components:
  schemas:
    Team:
      type: object
      properties:
        members:
          type: array
          items: {$ref: './user.yaml#/components/schemas/User'}
"#;
        let dir = fixture(&[
            ("openapi.yaml", &root),
            ("paths/users.yaml", users),
            ("schemas/user.yaml", user),
            ("schemas/team.yaml", team),
        ]);
        let (loaded, diags) = load(&dir, "openapi.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        let doc = &loaded.document;
        let get = &doc["paths"]["/users"]["get"];
        assert_eq!(get["operationId"], "listUsers");
        let ok = &get["responses"]["200"]["content"]["application/json"]["schema"];
        assert_eq!(ok["items"]["$ref"], "#/components/schemas/User");
        // The root's Error differs, so the other file's Error is renamed.
        let err = &get["responses"]["default"]["content"]["application/json"]["schema"];
        assert_eq!(err["$ref"], "#/components/schemas/Error_2");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Error"], serde_json::json!({"type": "string"}));
        assert_eq!(
            schemas["Error_2"]["properties"]["message"]["type"],
            "string"
        );
        assert_eq!(
            schemas["User"]["properties"]["team"]["$ref"],
            "#/components/schemas/Team"
        );
        assert_eq!(
            schemas["User"]["properties"]["friends"]["items"]["$ref"],
            "#/components/schemas/User"
        );
        assert_eq!(
            schemas["Team"]["properties"]["members"]["items"]["$ref"],
            "#/components/schemas/User"
        );
        assert!(
            loaded
                .openapi
                .components
                .as_ref()
                .unwrap()
                .schemas
                .contains_key("Team")
        );

        // Origins: the inlined path item and the hoisted schemas map back to their files.
        let here = |pointer: &str| {
            let l = loaded.origins.locate(pointer);
            (
                l.file.strip_prefix(&*dir).unwrap().display().to_string(),
                l.pointer,
            )
        };
        assert_eq!(
            here("/paths/~1users/get/responses/200"),
            ("paths/users.yaml".into(), "/get/responses/200".into())
        );
        assert_eq!(
            here("/components/schemas/Error_2/properties"),
            (
                "schemas/user.yaml".into(),
                "/components/schemas/Error/properties".into()
            )
        );
        assert_eq!(
            here("/components/schemas/Team"),
            (
                "schemas/team.yaml".into(),
                "/components/schemas/Team".into()
            )
        );
        assert_eq!(
            here("/info/title"),
            ("openapi.yaml".into(), "/info/title".into())
        );
    }

    #[test]
    fn identical_components_are_shared_and_inline_cycles_hoisted() {
        let root = format!(
            r#"openapi: 3.0.3
{INFO}paths:
  /t:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema: {{$ref: 'node.json'}}
        '400':
          description: bad
          content:
            application/json:
              schema: {{$ref: 'common.yaml#/components/schemas/Error'}}
        '500':
          description: bad
          content:
            application/json:
              schema: {{$ref: 'common.yaml#/Plain'}}
components:
  schemas:
    Error: {{type: string}}
"#
        );
        let node = r##"{"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}"##;
        let common = "components:\n  schemas:\n    Error: {type: string}\nPlain: {type: integer}\n";
        let dir = fixture(&[
            ("api.yaml", &root),
            ("node.json", node),
            ("common.yaml", common),
        ]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let doc = loaded.unwrap().document;
        let responses = &doc["paths"]["/t"]["get"]["responses"];
        let schema = |code: &str| responses[code]["content"]["application/json"]["schema"].clone();
        assert_eq!(schema("400")["$ref"], "#/components/schemas/Error");
        assert_eq!(schema("500"), serde_json::json!({"type": "integer"}));
        assert_eq!(schema("200")["$ref"], "#/components/schemas/node");
        let node = &doc["components"]["schemas"]["node"];
        assert_eq!(
            node["properties"]["children"]["items"]["$ref"],
            "#/components/schemas/node"
        );
        assert!(doc["components"]["schemas"].get("Error_2").is_none());
    }

    #[test]
    fn discriminator_mappings_and_31_path_items_follow_their_targets() {
        let root = r#"
openapi: 3.1.0
info: {title: t, version: '1'}
paths:
  /ping: {$ref: '#/components/pathItems/Ping'}
components:
  pathItems:
    Ping:
      get:
        responses:
          '200':
            description: ok
            content:
              application/json:
                schema: {$ref: '#/components/schemas/Pet'}
  schemas:
    Pet:
      oneOf:
        - {$ref: 'pets.yaml#/components/schemas/Dog'}
        - {$ref: 'cat.yaml'}
      discriminator:
        propertyName: kind
        mapping: {dog: 'pets.yaml#/components/schemas/Dog', cat: 'cat.yaml', own: Pet}
"#;
        let pets = "components:\n  schemas:\n    Dog:\n      type: object\n      discriminator:\n        propertyName: kind\n        mapping: {dog: Dog}\n";
        let cat = "type: object\nproperties:\n  kind: {type: string}\n";
        let dir = fixture(&[("api.yaml", root), ("pets.yaml", pets), ("cat.yaml", cat)]);
        let (loaded, diags) = load(&dir, "api.yaml");
        assert!(diags.is_empty(), "{diags:?}");
        let loaded = loaded.unwrap();
        let doc = &loaded.document;
        assert!(doc["components"].get("pathItems").is_none());
        let get = &doc["paths"]["/ping"]["get"];
        assert_eq!(
            get["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Pet"
        );
        assert_eq!(
            loaded.origins.locate("/paths/~1ping/get").pointer,
            "/components/pathItems/Ping/get"
        );
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["Pet"]["discriminator"]["mapping"],
            serde_json::json!({
                "dog": "#/components/schemas/Dog",
                "cat": "#/components/schemas/cat",
                "own": "Pet",
            })
        );
        // The one-of branch and the mapping name the same hoisted schema.
        assert_eq!(
            schemas["Pet"]["oneOf"][1]["$ref"],
            "#/components/schemas/cat"
        );
        assert_eq!(
            schemas["Dog"]["discriminator"]["mapping"]["dog"],
            "#/components/schemas/Dog"
        );
    }

    #[test]
    fn ref_siblings_apply_in_31_warn_in_30_and_defs_refs_are_unsupported() {
        let text = r#"
components:
  schemas:
    A: {$ref: '#/components/schemas/B', description: fine}
    B: {$ref: '#/components/schemas/C', maxLength: 3}
    C:
      type: string
      $defs:
        D: {type: integer}
    E: {$ref: '#/components/schemas/C/$defs/D'}
    F: {$ref: 'plain.yaml', minLength: 1}
    G: {$ref: '#/components/schemas/C', allOf: [{minLength: 1}], unevaluatedProperties: false}
"#;
        let found = |diags: &Diagnostics| -> Vec<(&str, String)> {
            diags
                .list
                .iter()
                .map(|d| (d.code, d.location.as_ref().unwrap().pointer.clone()))
                .collect()
        };
        // 3.1 (JSON Schema 2020-12): the keywords beside a `$ref` apply, as an `allOf`.
        let spec = format!("openapi: 3.1.0\n{INFO}{text}");
        let dir = fixture(&[("api.yaml", &spec), ("plain.yaml", "type: string\n")]);
        let (loaded, diags) = load(&dir, "api.yaml");
        let loaded = loaded.unwrap();
        assert_eq!(
            found(&diags),
            [
                (UNSUPPORTED_KEYWORD, "/components/schemas/E/$ref".to_owned()),
                (
                    UNSUPPORTED_KEYWORD,
                    "/components/schemas/G/unevaluatedProperties".to_owned()
                ),
            ]
        );
        let schemas = &loaded.document["components"]["schemas"];
        assert_eq!(
            schemas["A"],
            serde_json::json!({"$ref": "#/components/schemas/B"})
        );
        assert_eq!(
            schemas["B"],
            serde_json::json!({"maxLength": 3, "allOf": [{"$ref": "#/components/schemas/C"}]})
        );
        assert_eq!(
            schemas["F"],
            serde_json::json!({"minLength": 1, "allOf": [{"type": "string"}]})
        );
        // An `allOf` already there gets the `$ref` too; an unsupported keyword beside a
        // `$ref` is refused (above) rather than dropped with the `$ref`'s siblings.
        assert_eq!(
            schemas["G"],
            serde_json::json!({
                "allOf": [{"minLength": 1}, {"$ref": "#/components/schemas/C"}],
                "unevaluatedProperties": {"not": {}}
            })
        );
        assert!(schemas["C"].get("$defs").is_none());

        // 3.0: siblings of a `$ref` are ignored, with a warning when they constrained.
        let spec = format!("openapi: 3.0.3\n{INFO}paths: {{}}\n{text}")
            .replace("E: {$ref: '#/components/schemas/C/$defs/D'}", "")
            .replace("      $defs:\n        D: {type: integer}\n", "")
            .replace(", unevaluatedProperties: false", "");
        let dir = fixture(&[("api.yaml", &spec), ("plain.yaml", "type: string\n")]);
        let (loaded, diags) = load(&dir, "api.yaml");
        let loaded = loaded.unwrap_or_else(|| panic!("{spec}\n{:?}", found(&diags)));
        assert_eq!(
            found(&diags),
            [
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/B/maxLength".to_owned()
                ),
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/F/minLength".to_owned()
                ),
                (
                    REF_SIBLINGS_IGNORED,
                    "/components/schemas/G/allOf".to_owned()
                ),
            ]
        );
        // Inlined or not, a ref's siblings are dropped, as the warning says.
        assert_eq!(
            loaded.document["components"]["schemas"]["F"],
            serde_json::json!({"type": "string"})
        );
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let deep = format!(
            "openapi: 3.0.3\n{INFO}x: {}1{}\n",
            "[".repeat(500),
            "]".repeat(500)
        );
        // Each file inlines the next twice: the copies double per level.
        let mut owned: Vec<(String, String)> = (0..30)
            .map(|i| {
                let next = i + 1;
                let text = format!("type: object\nproperties:\n  a: {{$ref: 'w{next}.yaml'}}\n  b: {{$ref: 'w{next}.yaml'}}\n");
                (format!("w{i}.yaml"), text)
            })
            .collect();
        owned.push(("w30.yaml".into(), "type: string\n".into()));
        // A long chain of inlines: deeper than the inline nesting limit.
        owned.extend((0..40).map(|i| {
            let next = i + 1;
            (
                format!("l{i}.yaml"),
                format!("type: array\nitems: {{$ref: 'l{next}.yaml'}}\n"),
            )
        }));
        owned.push(("l40.yaml".into(), "type: string\n".into()));
        for (root, first) in [("wide.yaml", "w0.yaml"), ("long.yaml", "l0.yaml")] {
            let text = format!(
                "openapi: 3.0.3\n{INFO}paths: {{}}\ncomponents:\n  schemas:\n    S: {{$ref: '{first}'}}\n"
            );
            owned.push((root.into(), text));
        }
        // Files nested as deep as the YAML parser allows, inlined into each other.
        let nest = |levels: usize, inner: &str| {
            format!(
                "{}{inner}{}\n",
                "{properties: {a: ".repeat(levels),
                "}}".repeat(levels)
            )
        };
        owned.push(("n0.yaml".into(), nest(60, "{$ref: 'n1.yaml'}")));
        owned.push(("n1.yaml".into(), nest(60, "{$ref: 'n2.yaml'}")));
        owned.push(("n2.yaml".into(), nest(60, "{type: string}")));
        owned.push(("m0.yaml".into(), nest(45, "{$ref: 'm1.yaml'}")));
        owned.push(("m1.yaml".into(), nest(25, "{type: string}")));
        for (root, first) in [("nested.yaml", "n0.yaml"), ("almost.yaml", "m0.yaml")] {
            let text = format!(
                "openapi: 3.0.3\n{INFO}paths: {{}}\ncomponents:\n  schemas:\n    S: {{$ref: '{first}'}}\n"
            );
            owned.push((root.into(), text));
        }
        let cases = [
            ("deep.yaml", deep.as_str()),
            ("empty.yaml", ""),
            ("null.json", "null"),
            ("nan.yaml", "openapi: 3.0.3\nx: .nan\n"),
            ("keys.yaml", "openapi: 3.0.3\n? [a]\n: b\n"),
            (
                "self.yaml",
                "openapi: 3.0.3\npaths:\n  /a: {$ref: 'self.yaml#/paths/~1a'}\n",
            ),
            (
                "weird.yaml",
                "openapi: 3.0.3\npaths:\n  /a: {$ref: 7}\n  /b: {$ref: '#anchor'}\n  /c: {$ref: '%zz'}\ncomponents: []\n",
            ),
        ];
        let mut files: Vec<(&str, &str)> = owned
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        files.extend(cases);
        let dir = fixture(&files);
        let names: Vec<String> = cases.iter().map(|(name, _)| (*name).to_owned()).collect();
        // The default stack of a test thread, explicitly: recursion must stay well inside it.
        let handle = std::thread::Builder::new()
            .stack_size(2 * 1024 * 1024)
            .spawn(move || {
                for file in names {
                    let (_, diags) = load(&dir, &file);
                    assert!(diags.has_errors(), "{file}");
                }
                let (loaded, diags) = load(&dir, "nested.yaml");
                assert!(loaded.is_none());
                assert_eq!(codes(&diags), [INVALID], "{diags:?}");
                let (loaded, diags) = load(&dir, "almost.yaml");
                assert!(diags.is_empty(), "{diags:?}");
                assert!(loaded.is_some());
                let (_, diags) = load(&dir, "wide.yaml");
                assert!(codes(&diags).contains(&TOO_LARGE), "{diags:?}");
                let (loaded, diags) = load(&dir, "long.yaml");
                assert!(diags.is_empty(), "{diags:?}");
                let doc = loaded.unwrap().document;
                let text = doc.to_string();
                assert!(!text.contains(".yaml"), "external refs left: {text}");
            })
            .unwrap();
        handle.join().unwrap();
    }
}
