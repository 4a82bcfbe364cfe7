//! The parsed body a validator reads: a *tape*, one vector of nodes in document order, a
//! container's node followed by those of its contents (`simd_json::Node`). simd-json
//! parses (SIMD structural scan and UTF-8 check, nesting limited to [`MAX_DEPTH`]),
//! unescaping strings in place in the caller's copy of the body, so every string borrows
//! it; its scratch buffers are kept per thread (for bodies up to 1 MiB).
//!
//! Validators read it through [`Value`], a copyable view of one node and its contents.
//! Objects are their members in document order (`json::parse` refuses an object that gives
//! a name twice: the gateway and the upstream could read different values of it). A tree
//! of maps (`serde_json::Value` with `preserve_order`) cost an allocation and a hash table
//! per object, and cost more to build than the validators took to check it; serde_json
//! building this tape still cost twice what simd-json does (bench/README.md,
//! "validators/").

use std::cell::RefCell;
use std::fmt;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
pub use serde_json::Number;
use simd_json::{Node, StaticNode};

use crate::check::fields::RandomState;
use crate::check::steps::step;

/// The deepest nesting of arrays and objects a body may have (about serde_json's limit,
/// which the gateway had before): validators recurse as deep as the body goes.
pub const MAX_DEPTH: usize = 128;

/// Bodies larger than this do not leave their scratch buffers (about three times the body)
/// behind in the thread: up to it, a worker thread keeps at most a few MiB.
const KEEP_BUFFERS_UP_TO: usize = 1024 * 1024;

thread_local! {
    static BUFFERS: RefCell<Option<simd_json::Buffers>> = const { RefCell::new(None) };
}

/// A parsed JSON document (by default, empty: its value reads as `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Document<'a> {
    /// Parses JSON text, which it rewrites (strings are unescaped in place) and borrows.
    pub fn parse(text: &'a mut [u8]) -> Result<Document<'a>, simd_json::Error> {
        let len = text.len();
        BUFFERS.with(|cell| {
            let mut slot = cell.borrow_mut();
            let buffers =
                slot.get_or_insert_with(|| simd_json::Buffers::with_max_depth(len, MAX_DEPTH));
            let tape = simd_json::to_tape_with_buffers(text, buffers);
            if len > KEEP_BUFFERS_UP_TO {
                *slot = None;
            }
            tape.map(|tape| Document { nodes: tape.0 })
        })
    }

    /// The tape of an owned JSON value (a form or a parameter object), borrowing it.
    pub fn from_json(value: &'a serde_json::Value) -> Document<'a> {
        let mut nodes = Vec::new();
        push_json(&mut nodes, value);
        Document { nodes }
    }

    /// Every object of the document with more than one member, in one pass over the tape.
    pub fn objects(&self) -> impl Iterator<Item = Object<'_>> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(at, node)| match node {
                Node::Object { len, count } if *len > 1 => Some(Object {
                    len: *len,
                    nodes: &self.nodes[at + 1..at + 1 + *count],
                }),
                _ => None,
            })
    }

    /// The document's value.
    pub fn root(&self) -> Value<'_> {
        static NULL: [Node<'static>; 1] = [Node::Static(StaticNode::Null)];
        if self.nodes.is_empty() {
            return Value(&NULL);
        }
        Value(&self.nodes)
    }
}

/// Writes `value` on the tape: a container's node first, completed once its contents follow.
fn push_json<'a>(nodes: &mut Vec<Node<'a>>, value: &'a serde_json::Value) {
    use serde_json::Value as J;
    let at = nodes.len();
    match value {
        J::Null => nodes.push(Node::Static(StaticNode::Null)),
        J::Bool(b) => nodes.push(Node::Static(StaticNode::Bool(*b))),
        J::Number(n) => nodes.push(Node::Static(if let Some(u) = n.as_u64() {
            StaticNode::U64(u)
        } else if let Some(i) = n.as_i64() {
            StaticNode::I64(i)
        } else {
            StaticNode::F64(n.as_f64().unwrap_or_default())
        })),
        J::String(s) => nodes.push(Node::String(s)),
        J::Array(items) => {
            nodes.push(Node::Array {
                len: items.len(),
                count: 0,
            });
            for item in items {
                push_json(nodes, item);
            }
            nodes[at] = Node::Array {
                len: items.len(),
                count: nodes.len() - at - 1,
            };
        }
        J::Object(members) => {
            nodes.push(Node::Object {
                len: members.len(),
                count: 0,
            });
            for (key, item) in members {
                nodes.push(Node::String(key));
                push_json(nodes, item);
            }
            nodes[at] = Node::Object {
                len: members.len(),
                count: nodes.len() - at - 1,
            };
        }
    }
}

/// One JSON value of a [`Document`]: its node and, after it, those of its contents.
#[derive(Clone, Copy)]
pub struct Value<'t>(&'t [Node<'t>]);

impl<'t> Value<'t> {
    #[inline]
    fn node(self) -> &'t Node<'t> {
        &self.0[0]
    }

    /// Where the value's node is: the same for every view of one node of a document.
    #[inline]
    pub(crate) fn address(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// How many nodes the value spans.
    #[inline]
    fn size(self) -> usize {
        match self.node() {
            Node::Array { count, .. } | Node::Object { count, .. } => 1 + *count,
            _ => 1,
        }
    }

    #[inline]
    pub fn is_null(self) -> bool {
        matches!(self.node(), Node::Static(StaticNode::Null))
    }

    #[inline]
    pub fn is_boolean(self) -> bool {
        matches!(self.node(), Node::Static(StaticNode::Bool(_)))
    }

    #[inline]
    pub fn is_number(self) -> bool {
        matches!(
            self.node(),
            Node::Static(StaticNode::I64(_) | StaticNode::U64(_) | StaticNode::F64(_))
        )
    }

    #[inline]
    pub fn is_string(self) -> bool {
        matches!(self.node(), Node::String(_))
    }

    #[inline]
    pub fn is_array(self) -> bool {
        matches!(self.node(), Node::Array { .. })
    }

    #[inline]
    pub fn is_object(self) -> bool {
        matches!(self.node(), Node::Object { .. })
    }

    #[inline]
    pub fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Static(StaticNode::Bool(b)) => Some(*b),
            _ => None,
        }
    }

    #[inline]
    pub fn as_number(self) -> Option<Number> {
        match self.node() {
            Node::Static(StaticNode::U64(n)) => Some(Number::from(*n)),
            Node::Static(StaticNode::I64(n)) => Some(Number::from(*n)),
            // Never infinite or NaN: JSON has no such numbers.
            Node::Static(StaticNode::F64(n)) => Number::from_f64(*n),
            _ => None,
        }
    }

    #[inline]
    pub fn as_str(self) -> Option<&'t str> {
        match self.node() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    #[inline]
    pub fn as_array(self) -> Option<Array<'t>> {
        match self.node() {
            Node::Array { len, count } => Some(Array {
                len: *len,
                nodes: &self.0[1..1 + *count],
            }),
            _ => None,
        }
    }

    #[inline]
    pub fn as_object(self) -> Option<Object<'t>> {
        match self.node() {
            Node::Object { len, count } => Some(Object {
                len: *len,
                nodes: &self.0[1..1 + *count],
            }),
            _ => None,
        }
    }
}

impl Value<'_> {
    /// JSON equality as JSON Schema defines it: numbers by mathematical value (`1 == 1.0`),
    /// objects regardless of member order.
    #[inline]
    pub fn json_eq(self, other: Value<'_>) -> bool {
        step();
        match (self.node(), other.node()) {
            (Node::String(x), Node::String(y)) => x == y,
            (Node::Static(StaticNode::Bool(x)), Node::Static(StaticNode::Bool(y))) => x == y,
            (Node::Static(StaticNode::Null), Node::Static(StaticNode::Null)) => true,
            (Node::Static(_), Node::Static(_)) => match (self.as_number(), other.as_number()) {
                (Some(x), Some(y)) => number_equal(&x, &y),
                _ => false,
            },
            (Node::Array { len: n, .. }, Node::Array { len: m, .. }) => {
                n == m
                    && self
                        .as_array()
                        .into_iter()
                        .flat_map(Array::iter)
                        .zip(other.as_array().into_iter().flat_map(Array::iter))
                        .all(|(a, b)| a.json_eq(b))
            }
            (Node::Object { len: n, .. }, Node::Object { len: m, .. }) => {
                let (Some(x), Some(y)) = (self.as_object(), other.as_object()) else {
                    return false;
                };
                if n != m {
                    return false;
                }
                if *m <= 16 {
                    return x
                        .iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| v.json_eq(w)));
                }
                // By name, not a scan of `y` per member of `x` (names are unique: `parse`
                // refuses a name given twice).
                let mut members: std::collections::HashMap<&str, Value<'_>, RandomState> =
                    std::collections::HashMap::with_capacity_and_hasher(*m, RandomState::default());
                for (k, w) in y.iter() {
                    step();
                    members.insert(k, w);
                }
                x.iter().all(|(k, v)| {
                    step();
                    members.get(k).is_some_and(|w| v.json_eq(*w))
                })
            }
            _ => false,
        }
    }
}

/// Numbers by value: integers exactly (`1 == 1.0`, and `2^60 + 1 != 2^60` although both
/// are the same `f64`), anything else as `f64`.
#[inline]
fn number_equal(x: &Number, y: &Number) -> bool {
    match (exact_integer(x), exact_integer(y)) {
        (Some(a), Some(b)) => a == b,
        (None, None) => x.as_f64() == y.as_f64(),
        _ => false,
    }
}

/// A number's value if it is a whole number within ±2^127: integers, and floats without a
/// fraction (`1.0`, `-0.0`, `1e20`), exactly.
pub fn exact_integer(n: &Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i.into());
    }
    if let Some(u) = n.as_u64() {
        return Some(u.into());
    }
    let f = n.as_f64()?;
    // Below 2^127 an `f64` without a fraction converts to `i128` exactly.
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 1.7e38).then_some(f as i128)
}

impl fmt::Debug for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The value as compact JSON.
impl fmt::Display for Value<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&text)
    }
}

impl Serialize for Value<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.node() {
            Node::Static(StaticNode::Bool(b)) => serializer.serialize_bool(*b),
            Node::Static(_) => match self.as_number() {
                Some(n) => n.serialize(serializer),
                None => serializer.serialize_unit(),
            },
            Node::String(s) => serializer.serialize_str(s),
            Node::Array { .. } => {
                let items = self.as_array().into_iter().flat_map(Array::iter);
                let mut seq = serializer.serialize_seq(None)?;
                for item in items {
                    seq.serialize_element(&item)?;
                }
                seq.end()
            }
            Node::Object { .. } => {
                let members = self.as_object().into_iter().flat_map(Object::iter);
                let mut map = serializer.serialize_map(None)?;
                for (key, value) in members {
                    map.serialize_entry(key, &value)?;
                }
                map.end()
            }
        }
    }
}

/// The items of an array.
#[derive(Clone, Copy)]
pub struct Array<'t> {
    len: usize,
    nodes: &'t [Node<'t>],
}

impl Array<'static> {
    pub const EMPTY: Array<'static> = Array { len: 0, nodes: &[] };
}

impl<'t> Array<'t> {
    #[inline]
    pub fn len(self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn iter(self) -> Items<'t> {
        Items {
            rest: self.nodes,
            left: self.len,
        }
    }
}

/// The items of an [`Array`], in order.
pub struct Items<'t> {
    rest: &'t [Node<'t>],
    left: usize,
}

impl<'t> Iterator for Items<'t> {
    type Item = Value<'t>;

    #[inline]
    fn next(&mut self) -> Option<Value<'t>> {
        if self.left == 0 || self.rest.is_empty() {
            return None;
        }
        let item = Value(self.rest);
        self.rest = &self.rest[item.size()..];
        self.left -= 1;
        Some(item)
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl ExactSizeIterator for Items<'_> {}

/// The members of an object, in document order.
#[derive(Clone, Copy)]
pub struct Object<'t> {
    len: usize,
    nodes: &'t [Node<'t>],
}

impl<'t> Object<'t> {
    /// The number of members (`json::parse` refuses a name given twice).
    #[inline]
    pub fn len(self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn iter(self) -> Members<'t> {
        Members { rest: self.nodes }
    }

    /// The value of the first member named `key`.
    #[inline]
    pub fn get(self, key: &str) -> Option<Value<'t>> {
        self.iter()
            .find(|(k, _)| {
                step();
                *k == key
            })
            .map(|(_, v)| v)
    }

    #[inline]
    pub fn contains_key(self, key: &str) -> bool {
        self.iter().any(|(k, _)| {
            step();
            k == key
        })
    }
}

/// The members of an [`Object`]: name and value.
pub struct Members<'t> {
    rest: &'t [Node<'t>],
}

impl<'t> Iterator for Members<'t> {
    type Item = (&'t str, Value<'t>);

    #[inline]
    fn next(&mut self) -> Option<(&'t str, Value<'t>)> {
        let (Node::String(key), rest) = self.rest.split_first()? else {
            return None;
        };
        if rest.is_empty() {
            return None;
        }
        let value = Value(rest);
        self.rest = &rest[value.size()..];
        Some((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tape_reads_back_as_the_text() {
        let text = r#"{"a":[1,-2,3.5,{"b\n":"c\"d","e":[]}],"f":null,"g":true,"a":{}}"#;
        let mut bytes = text.as_bytes().to_vec();
        let document = Document::parse(&mut bytes).unwrap();
        let root = document.root();
        assert_eq!(root.to_string(), text);
        let object = root.as_object().unwrap();
        assert_eq!(object.len(), 4);
        let keys: Vec<&str> = object.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "f", "g", "a"], "order and duplicates are kept");
        let a = object.get("a").unwrap().as_array().unwrap();
        assert_eq!(a.len(), 4);
        let items: Vec<Value<'_>> = a.iter().collect();
        assert_eq!(items[1].as_number().unwrap().as_i64(), Some(-2));
        assert_eq!(items[2].as_number().unwrap().as_f64(), Some(3.5));
        let inner = items[3].as_object().unwrap();
        assert_eq!(inner.get("b\n").unwrap().as_str(), Some("c\"d"));
        assert!(inner.get("e").unwrap().as_array().unwrap().is_empty());
        assert!(object.get("f").unwrap().is_null());
        assert_eq!(object.get("g").unwrap().as_bool(), Some(true));
        assert!(object.get("z").is_none());
    }

    #[test]
    fn owned_values_and_bad_text() {
        let owned = serde_json::json!({"x": [1, "y"], "z": {"w": 2.5}});
        let document = Document::from_json(&owned);
        assert_eq!(document.root().to_string(), owned.to_string());
        let parse = |text: &str| Document::parse(&mut text.as_bytes().to_vec()).map(|_| ());
        for bad in [
            "",
            "[1,",
            "{\"a\" 1}",
            "[1] 2",
            "{1: 2}",
            "\"\\ud800\"",
            "\"a\u{1}\"",
            "[1e400]",
            "[01]",
            "nul",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        assert!(parse(&nested(MAX_DEPTH + 1)).is_err());
        assert!(parse(&nested(10_000)).is_err());
        // Beyond 64 bits an integer is a float, as serde_json reads it; `-0` is the
        // integer 0 (serde_json: the float -0.0) and `1.0` a float.
        let mut big = b"[98249283749234923498293171823948729348710298301928331, -0, 1.0]".to_vec();
        let big = Document::parse(&mut big).unwrap();
        let items: Vec<Value<'_>> = big.root().as_array().unwrap().iter().collect();
        assert!(items[0].as_number().unwrap().is_f64());
        assert_eq!(items[1].as_number().unwrap().as_i64(), Some(0));
        assert!(items[2].as_number().unwrap().is_f64());
        // A large body does not keep its scratch buffers; the next parse makes new ones.
        let large = format!("[{}1]", "1,".repeat(KEEP_BUFFERS_UP_TO));
        assert!(parse(&large).is_ok());
        assert!(BUFFERS.with(|cell| cell.borrow().is_none()));
        assert!(parse("[1]").is_ok());
        assert!(BUFFERS.with(|cell| cell.borrow().is_some()));
    }
}
