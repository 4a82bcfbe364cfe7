//! The input files' texts, and the positions of their nodes.
//!
//! serde (through `serde_yaml`/`serde_json`) gives positions for syntax errors only. For
//! every other diagnostic we know a JSON pointer; this module turns it into a line and a
//! column by walking the file's YAML events (JSON is YAML 1.2, so one walker serves both).
//! The walk happens only for files that have diagnostics, and it records only the nodes on
//! the way to the pointers asked for (other subtrees are skipped), so a large spec with a
//! few warnings costs one quick extra parse.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diag::{Diagnostics, Location, SourceText, pointer_push};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where a node starts, and where its key starts when it is a mapping member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodePosition {
    pub key: Option<Position>,
    pub value: Position,
    /// A mapping or sequence: reported at its key, since a block's own start is on the
    /// line of its first member.
    pub container: bool,
}

/// Cache of input files: each is read once.
#[derive(Default)]
pub struct Sources {
    files: BTreeMap<PathBuf, Arc<str>>,
    /// Where the files are read from when not from the file system.
    tree: Option<GitTree>,
}

/// A git revision's tree, read with `git cat-file` (`gateway diff --base <rev>:<path>`).
///
/// Its files are named `<rev>:/<path from the repository's top>`, so the stages join and
/// normalize them like any path (`<rev>:` is their root folder) and every diagnostic
/// names the revision it read.
struct GitTree {
    rev: String,
    /// A folder inside the repository, where git runs.
    repository: PathBuf,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    /// Reads every file from the revision `rev` of the git repository that holds the
    /// folder `repository`; returns the sources and the name of `path` (from the
    /// repository's top, as `git show <rev>:<path>` takes it) among them.
    pub fn git(rev: &str, path: &str, repository: &Path) -> (Sources, PathBuf) {
        let sources = Sources {
            files: BTreeMap::new(),
            tree: Some(GitTree {
                rev: rev.to_owned(),
                repository: repository.to_path_buf(),
            }),
        };
        let name = Path::new(&format!("{rev}:")).join(path.trim_start_matches('/'));
        (sources, name)
    }

    /// Every file read so far: the manifest and each spec file a `$ref` led to (what
    /// `gateway dev` watches).
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.keys().map(PathBuf::as_path)
    }

    pub fn read(&mut self, path: &Path) -> Result<Arc<str>, std::io::Error> {
        if let Some(text) = self.files.get(path) {
            return Ok(text.clone());
        }
        let text: Arc<str> = match &self.tree {
            None => std::fs::read_to_string(path)?.into(),
            Some(tree) => tree.read(path)?.into(),
        };
        self.insert(path, text.clone());
        Ok(text)
    }

    /// Whether `path` names a file that can be read.
    pub fn is_file(&mut self, path: &Path) -> bool {
        match &self.tree {
            None => path.is_file(),
            Some(_) => self.read(path).is_ok(),
        }
    }

    /// Registers a text under a path (used by tests and for in-memory inputs).
    pub fn insert(&mut self, path: &Path, text: Arc<str>) {
        self.files.insert(path.to_path_buf(), text);
    }

    /// Position of the node at `pointer` in `file`, if the file and the node exist.
    pub fn position(&self, file: &Path, pointer: &str) -> Option<NodePosition> {
        let text = self.files.get(file)?;
        let positions = index(text, Some(&with_ancestors([pointer])));
        lookup(&positions, pointer)
    }

    /// Fills in line and column of every diagnostic location that has a pointer.
    pub fn resolve(&self, diagnostics: &mut Diagnostics) {
        self.locate(diagnostics.list.iter_mut().flat_map(|d| {
            d.location
                .iter_mut()
                .chain(d.related.iter_mut().map(|(_, l)| l))
        }));
    }

    /// Fills in line and column of locations that have a pointer, indexing each file
    /// once for all the pointers into it.
    pub fn locate<'l>(&self, locations: impl IntoIterator<Item = &'l mut Location>) {
        let mut pending: Vec<&mut Location> =
            locations.into_iter().filter(|l| l.line.is_none()).collect();
        let mut wanted: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for location in &pending {
            wanted
                .entry(location.file.clone())
                .or_default()
                .push(location.pointer.clone());
        }
        let mut found: BTreeMap<PathBuf, BTreeMap<String, NodePosition>> = BTreeMap::new();
        for (file, pointers) in wanted {
            if let Some(text) = self.files.get(&file) {
                let wanted = with_ancestors(pointers.iter().map(String::as_str));
                found.insert(file, index(text, Some(&wanted)));
            }
        }
        for location in &mut pending {
            let Some(positions) = found.get(&location.file) else {
                continue;
            };
            if let Some(at) = lookup(positions, &location.pointer) {
                let at = if location.at_key || at.container {
                    at.key.unwrap_or(at.value)
                } else {
                    at.value
                };
                location.line = Some(at.line);
                location.column = Some(at.column);
            }
        }
    }
}

impl GitTree {
    fn read(&self, path: &Path) -> Result<String, std::io::Error> {
        use std::io::{Error, ErrorKind};
        use std::path::Component;
        let outside = || {
            Error::new(
                ErrorKind::NotFound,
                format!("{} is outside revision {}", path.display(), self.rev),
            )
        };
        // What follows the root is the path from the repository's top, joined by the
        // stages (`../specs/api.yaml` beside the manifest): git wants it normalized, and
        // a `..` above the top is outside the tree.
        let rest = path
            .strip_prefix(format!("{}:", self.rev))
            .map_err(|_| outside())?;
        let mut inside: Vec<String> = Vec::new();
        for component in rest.components() {
            match component {
                Component::Normal(name) => inside.push(name.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    inside.pop().ok_or_else(outside)?;
                }
                Component::RootDir | Component::Prefix(_) => return Err(outside()),
            }
        }
        let object = format!("{}:{}", self.rev, inside.join("/"));
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(&self.repository)
            .args(["cat-file", "blob", &object])
            .output()
            .map_err(|e| Error::new(e.kind(), format!("cannot run git: {e}")))?;
        if !output.status.success() {
            let said = String::from_utf8_lossy(&output.stderr);
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("git cannot read `{object}`: {}", said.trim()),
            ));
        }
        String::from_utf8(output.stdout)
            .map_err(|_| Error::new(ErrorKind::InvalidData, format!("`{object}` is not UTF-8")))
    }
}

/// The pointers and every ancestor of each (`/a/b` -> `/a/b`, `/a`, ``).
fn with_ancestors<'p>(pointers: impl IntoIterator<Item = &'p str>) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for pointer in pointers {
        let mut p = pointer;
        set.insert(p.to_owned());
        while let Some(cut) = p.rfind('/') {
            p = &p[..cut];
            set.insert(p.to_owned());
        }
    }
    set
}

/// The node at `pointer`, or its nearest existing ancestor: a missing member is reported
/// at its parent.
fn lookup(positions: &BTreeMap<String, NodePosition>, pointer: &str) -> Option<NodePosition> {
    let mut p = pointer;
    loop {
        if let Some(found) = positions.get(p) {
            return Some(*found);
        }
        let cut = p.rfind('/')?;
        p = &p[..cut];
    }
}

impl SourceText for Sources {
    fn text(&self, file: &Path) -> Option<&str> {
        self.files.get(file).map(|text| text.as_ref())
    }
}

enum Frame {
    Mapping {
        pointer: String,
        /// The key just read, waiting for its value.
        key: Option<(String, Position)>,
    },
    Sequence {
        pointer: String,
        next: usize,
    },
    /// A mapping or sequence used as a mapping key: nothing inside is addressable.
    Opaque(usize),
}

struct Indexer<'w> {
    stack: Vec<Frame>,
    /// Record only these pointers (closed under ancestors); `None` records every node.
    wanted: Option<&'w BTreeSet<String>>,
    positions: BTreeMap<String, NodePosition>,
    /// Anchored nodes' pointers (aliases point at the anchor's node).
    documents: usize,
}

fn position(mark: Marker) -> Position {
    Position {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

impl Indexer<'_> {
    /// Called for every node start: returns the pointer of the node, or None when the node
    /// is a mapping key (recorded as pending) or not addressable.
    fn node(&mut self, mark: Marker, scalar: Option<&str>, container: bool) -> Option<String> {
        if self.documents > 1 {
            return None;
        }
        let (pointer, found) = self.node_pointer(mark, scalar, container)?;
        if self.wanted.is_some_and(|wanted| !wanted.contains(&pointer)) {
            return None;
        }
        self.positions.insert(pointer.clone(), found);
        Some(pointer)
    }

    /// The pointer and position of a node in value position.
    fn node_pointer(
        &mut self,
        mark: Marker,
        scalar: Option<&str>,
        container: bool,
    ) -> Option<(String, NodePosition)> {
        let at = position(mark);
        match self.stack.last_mut() {
            None => Some((
                String::new(),
                NodePosition {
                    key: None,
                    value: at,
                    container,
                },
            )),
            Some(Frame::Opaque(_)) => None,
            Some(Frame::Sequence { pointer, next }) => {
                let child = pointer_push(pointer, &next.to_string());
                *next += 1;
                Some((
                    child,
                    NodePosition {
                        key: None,
                        value: at,
                        container,
                    },
                ))
            }
            Some(Frame::Mapping { pointer, key }) => match key.take() {
                None => {
                    match scalar {
                        Some(text) => *key = Some((text.to_owned(), at)),
                        // A complex key: its value gets a placeholder key.
                        None => *key = Some((String::new(), at)),
                    }
                    None
                }
                Some((name, key_at)) => {
                    let child = pointer_push(pointer, &name);
                    Some((
                        child,
                        NodePosition {
                            key: Some(key_at),
                            value: at,
                            container,
                        },
                    ))
                }
            },
        }
    }

    fn in_opaque(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Opaque(_)))
    }

    fn in_key_position(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Mapping { key: None, .. }))
    }

    fn open(&mut self, mark: Marker, mapping: bool) {
        if let Some(Frame::Opaque(depth)) = self.stack.last_mut() {
            *depth += 1;
            return;
        }
        let as_key = self.in_key_position();
        let pointer = self.node(mark, None, true);
        let frame = match (pointer, as_key) {
            (Some(pointer), false) if mapping => Frame::Mapping { pointer, key: None },
            (Some(pointer), false) => Frame::Sequence { pointer, next: 0 },
            _ => Frame::Opaque(1),
        };
        self.stack.push(frame);
    }

    fn close(&mut self) {
        if let Some(Frame::Opaque(depth)) = self.stack.last_mut()
            && *depth > 1
        {
            *depth -= 1;
            return;
        }
        self.stack.pop();
    }
}

impl MarkedEventReceiver for Indexer<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::DocumentStart => self.documents += 1,
            Event::Scalar(text, ..) if !self.in_opaque() => {
                self.node(mark, Some(&text), false);
            }
            Event::Alias(_) if !self.in_opaque() => {
                self.node(mark, Some(""), false);
            }
            Event::MappingStart(..) => self.open(mark, true),
            Event::SequenceStart(..) => self.open(mark, false),
            Event::MappingEnd | Event::SequenceEnd => self.close(),
            _ => {}
        }
    }
}

/// Every node's position, by JSON pointer. A text that fails to parse yields the positions
/// of what came before the error.
pub fn index(text: &str, wanted: Option<&BTreeSet<String>>) -> BTreeMap<String, NodePosition> {
    let body = text.trim_start_matches(['\u{feff}', ' ', '\t', '\r', '\n']);
    if body.starts_with('{') || body.starts_with('[') {
        return index_json(text, wanted);
    }
    let mut indexer = Indexer {
        stack: Vec::new(),
        wanted,
        positions: BTreeMap::new(),
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    let _ = parser.load(&mut indexer, false);
    indexer.positions
}

/// A JSON container being scanned.
struct JsonFrame {
    pointer: String,
    /// Recorded (on the way to a wanted pointer): its members are looked at.
    interesting: bool,
    object: bool,
    /// Objects: the member name just read, waiting for its value.
    key: Option<(String, Position)>,
    /// Arrays: the index of the next item.
    next: usize,
}

/// The JSON twin of the YAML walk: a byte scanner, ten times faster on a large spec than a
/// YAML parser. It trusts the text to be JSON (serde_json has parsed it already); on
/// anything else it returns what it found so far.
fn index_json(text: &str, wanted: Option<&BTreeSet<String>>) -> BTreeMap<String, NodePosition> {
    let bytes = text.as_bytes();
    let mut positions = BTreeMap::new();
    let mut stack: Vec<JsonFrame> = Vec::new();
    let (mut line, mut column) = (1usize, 1usize);
    let mut i = 0;
    let wants = |pointer: &str| wanted.is_none_or(|w| w.contains(pointer));

    // The pointer of a value starting now, if its parent is looked at; advances the
    // parent's array index or consumes its pending key.
    fn child(stack: &mut [JsonFrame]) -> Option<(String, Option<Position>)> {
        match stack.last_mut() {
            None => Some((String::new(), None)),
            Some(frame) if !frame.interesting => {
                frame.key = None;
                None
            }
            Some(frame) if frame.object => {
                let (name, at) = frame.key.take()?;
                Some((pointer_push(&frame.pointer, &name), Some(at)))
            }
            Some(frame) => {
                let pointer = pointer_push(&frame.pointer, &frame.next.to_string());
                frame.next += 1;
                Some((pointer, None))
            }
        }
    }

    while i < bytes.len() {
        let b = bytes[i];
        let at = Position { line, column };
        match b {
            b'\n' => {
                line += 1;
                column = 1;
                i += 1;
                continue;
            }
            b' ' | b'\t' | b'\r' | b',' | b':' => {}
            b'{' | b'[' => {
                let node = child(&mut stack);
                let interesting = match &node {
                    Some((pointer, key)) if wants(pointer) => {
                        positions.insert(
                            pointer.clone(),
                            NodePosition {
                                key: *key,
                                value: at,
                                container: true,
                            },
                        );
                        true
                    }
                    _ => false,
                };
                stack.push(JsonFrame {
                    pointer: node
                        .map(|(p, _)| p)
                        .filter(|_| interesting)
                        .unwrap_or_default(),
                    interesting,
                    object: b == b'{',
                    key: None,
                    next: 0,
                });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b'"' => {
                // Find the closing quote, stepping over escapes.
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && bytes[end] != b'"' {
                    end += if bytes[end] == b'\\' { 2 } else { 1 };
                }
                let raw = text.get(start..end.min(bytes.len())).unwrap_or_default();
                let is_key = matches!(stack.last(), Some(f) if f.object && f.key.is_none())
                    && bytes[end.min(bytes.len() - 1) + 1..]
                        .iter()
                        .find(|c| !c.is_ascii_whitespace())
                        == Some(&b':');
                if is_key {
                    if let Some(frame) = stack.last_mut()
                        && frame.interesting
                    {
                        let name =
                            serde_json::from_str::<String>(&text[i..=end.min(bytes.len() - 1)])
                                .unwrap_or_else(|_| raw.to_owned());
                        frame.key = Some((name, at));
                    } else if let Some(frame) = stack.last_mut() {
                        frame.key = Some((String::new(), at));
                    }
                } else if let Some((pointer, key)) = child(&mut stack)
                    && wants(&pointer)
                {
                    positions.insert(
                        pointer,
                        NodePosition {
                            key,
                            value: at,
                            container: false,
                        },
                    );
                }
                column += raw.chars().count() + 2;
                i = end + 1;
                continue;
            }
            _ => {
                // A number, `true`, `false` or `null`.
                if let Some((pointer, key)) = child(&mut stack)
                    && wants(&pointer)
                {
                    positions.insert(
                        pointer,
                        NodePosition {
                            key,
                            value: at,
                            container: false,
                        },
                    );
                }
                while i < bytes.len()
                    && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n')
                {
                    i += 1;
                    column += 1;
                }
                continue;
            }
        }
        i += 1;
        column += 1;
    }
    positions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON scanner and the YAML walk agree on every node of a JSON document.
    #[test]
    fn json_scanner_matches_the_yaml_walk() {
        let text = "{\n  \"openapi\": \"3.0.3\",\n  \"paths\": {\"/a/{id}\": {\"get\": {\"parameters\": [{\"name\": \"id\", \"in\": \"path\"}, 7, true, null, -1.5e3]}}},\n  \"x\\\"q\": {\"é\": [[], {}]}\n}\n";
        let mut indexer = Indexer {
            stack: Vec::new(),
            wanted: None,
            positions: BTreeMap::new(),
            documents: 0,
        };
        let _ = Parser::new_from_str(text).load(&mut indexer, false);
        let yaml = indexer.positions;
        let json = index_json(text, None);
        assert_eq!(json, yaml);
        assert!(json.contains_key("/paths/~1a~1{id}/get/parameters/4"));
        assert!(json.contains_key("/x\"q/é/1"));
        // Only what is on the way to a wanted pointer is recorded.
        let wanted = with_ancestors(["/paths/~1a~1{id}/get/parameters/0/in"]);
        let some = index_json(text, Some(&wanted));
        assert_eq!(some.len(), wanted.len());
        assert_eq!(
            some["/paths/~1a~1{id}/get/parameters/0/in"],
            yaml["/paths/~1a~1{id}/get/parameters/0/in"]
        );
    }

    fn at(text: &str, pointer: &str) -> (Option<(usize, usize)>, (usize, usize)) {
        let found = index(text, None)[pointer];
        (
            found.key.map(|k| (k.line, k.column)),
            (found.value.line, found.value.column),
        )
    }

    #[test]
    fn yaml_members_and_items() {
        let text = "a:\n  b: 1\n  list:\n    - x\n    - {c: 2}\n'/p/{id}': q\n";
        assert_eq!(at(text, "/a/b"), (Some((2, 3)), (2, 6)));
        assert_eq!(at(text, "/a/list/1/c"), (Some((5, 8)), (5, 11)));
        assert_eq!(at(text, "/a/list/0"), (None, (4, 7)));
        assert_eq!(at(text, "/~1p~1{id}"), (Some((6, 1)), (6, 12)));
    }

    #[test]
    fn json_documents_too() {
        let text = "{\n  \"paths\": {\n    \"/x\": {\"get\": {}}\n  }\n}\n";
        assert_eq!(at(text, "/paths/~1x/get"), (Some((3, 12)), (3, 19)));
    }

    #[test]
    fn missing_members_resolve_to_their_parent() {
        let mut sources = Sources::new();
        let path = Path::new("m.yaml");
        sources.insert(path, Arc::from("a:\n  b: 1\n"));
        let found = sources.position(path, "/a/zzz").unwrap();
        assert_eq!(found.value.line, 2);
    }

    #[test]
    fn broken_text_does_not_panic() {
        for text in ["a: [", "{", "- - -\n  x: : :", "? [a]\n: b\n", "&a x: *a\n"] {
            let _ = index(text, None);
        }
    }
}
