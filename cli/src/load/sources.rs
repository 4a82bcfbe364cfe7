//! The input files' texts, and the positions of their nodes.
//!
//! serde (through `serde_yaml`/`serde_json`) gives positions for syntax errors only. For
//! every other diagnostic we know a JSON pointer; this module turns it into a line and a
//! column by walking the file's YAML events (JSON is YAML 1.2, so one walker serves both).
//! The walk happens only for files that have diagnostics, so a large valid spec is never
//! parsed twice.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

use crate::diag::{Diagnostics, SourceText, pointer_push};

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

struct SourceFile {
    text: Arc<str>,
    positions: OnceLock<BTreeMap<String, NodePosition>>,
}

/// Cache of input files: each is read once, its positions computed on demand.
#[derive(Default)]
pub struct Sources {
    files: BTreeMap<PathBuf, SourceFile>,
}

impl Sources {
    pub fn new() -> Sources {
        Sources::default()
    }

    pub fn read(&mut self, path: &Path) -> Result<Arc<str>, std::io::Error> {
        if let Some(file) = self.files.get(path) {
            return Ok(file.text.clone());
        }
        let text: Arc<str> = std::fs::read_to_string(path)?.into();
        self.insert(path, text.clone());
        Ok(text)
    }

    /// Registers a text under a path (used by tests and for in-memory inputs).
    pub fn insert(&mut self, path: &Path, text: Arc<str>) {
        self.files.insert(
            path.to_path_buf(),
            SourceFile {
                text,
                positions: OnceLock::new(),
            },
        );
    }

    /// Position of the node at `pointer` in `file`, if the file and the node exist.
    pub fn position(&self, file: &Path, pointer: &str) -> Option<NodePosition> {
        let source = self.files.get(file)?;
        let positions = source.positions.get_or_init(|| index(&source.text));
        positions.get(pointer).copied().or_else(|| {
            // The nearest existing ancestor: a missing member is reported at its parent.
            let mut p = pointer;
            while let Some(cut) = p.rfind('/') {
                p = &p[..cut];
                if let Some(found) = positions.get(p) {
                    return Some(*found);
                }
            }
            None
        })
    }

    /// Fills in line and column of every diagnostic location that has a pointer.
    pub fn resolve(&self, diagnostics: &mut Diagnostics) {
        for d in &mut diagnostics.list {
            let locations = d
                .location
                .iter_mut()
                .chain(d.related.iter_mut().map(|(_, l)| l));
            for location in locations {
                if location.line.is_some() {
                    continue;
                }
                if let Some(found) = self.position(&location.file, &location.pointer) {
                    let at = if location.at_key || found.container {
                        found.key.unwrap_or(found.value)
                    } else {
                        found.value
                    };
                    location.line = Some(at.line);
                    location.column = Some(at.column);
                }
            }
        }
    }
}

impl SourceText for Sources {
    fn text(&self, file: &Path) -> Option<&str> {
        self.files.get(file).map(|f| f.text.as_ref())
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

struct Indexer {
    stack: Vec<Frame>,
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

impl Indexer {
    /// Called for every node start: returns the pointer of the node, or None when the node
    /// is a mapping key (recorded as pending) or not addressable.
    fn node(&mut self, mark: Marker, scalar: Option<&str>, container: bool) -> Option<String> {
        if self.documents > 1 {
            return None;
        }
        let at = position(mark);
        match self.stack.last_mut() {
            None => {
                self.positions.insert(
                    String::new(),
                    NodePosition {
                        key: None,
                        value: at,
                        container,
                    },
                );
                Some(String::new())
            }
            Some(Frame::Opaque(_)) => None,
            Some(Frame::Sequence { pointer, next }) => {
                let child = pointer_push(pointer, &next.to_string());
                *next += 1;
                self.positions.insert(
                    child.clone(),
                    NodePosition {
                        key: None,
                        value: at,
                        container,
                    },
                );
                Some(child)
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
                    self.positions.insert(
                        child.clone(),
                        NodePosition {
                            key: Some(key_at),
                            value: at,
                            container,
                        },
                    );
                    Some(child)
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

impl MarkedEventReceiver for Indexer {
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
pub fn index(text: &str) -> BTreeMap<String, NodePosition> {
    let mut indexer = Indexer {
        stack: Vec::new(),
        positions: BTreeMap::new(),
        documents: 0,
    };
    let mut parser = Parser::new_from_str(text);
    let _ = parser.load(&mut indexer, false);
    indexer.positions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, pointer: &str) -> (Option<(usize, usize)>, (usize, usize)) {
        let found = index(text)[pointer];
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
        assert_eq!(at(text, "/~1p~1{id}"), (Some((6, 1)), (6, 11)));
    }

    #[test]
    fn json_documents_too() {
        let text = "{\n  \"paths\": {\n    \"/x\": {\"get\": {}}\n  }\n}\n";
        assert_eq!(at(text, "/paths/~1x/get"), (Some((3, 13)), (3, 20)));
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
            let _ = index(text);
        }
    }
}
