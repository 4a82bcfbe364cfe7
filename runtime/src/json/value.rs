//! The parsed body a validator reads: a *tape*, one vector of nodes in document order, a
//! container's node followed by those of its contents. `serde_json` parses (with its
//! error positions and nesting limit); the tape is what it builds, in one allocation that
//! grows, with strings borrowed from the request's bytes unless they have escapes.
//!
//! Validators read it through [`Value`], a copyable view of one node and its contents.
//! Objects are their members in document order, duplicates included (the generated
//! validators refuse a duplicated property they check: the gateway and the upstream could
//! read different values of it). A tree of maps (`serde_json::Value` with
//! `preserve_order`) cost an allocation and a hash table per object, and cost more to build
//! than the validators took to check it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
pub use serde_json::Number;

#[derive(Debug, Clone, PartialEq)]
enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    /// `len` items follow; `size` counts this node and every node of the items.
    Array {
        len: usize,
        size: usize,
    },
    /// `len` members follow, each a `Key` and its value's nodes; `size` as for arrays.
    Object {
        len: usize,
        size: usize,
    },
    Key(Cow<'a, str>),
}

/// A parsed JSON document (by default, empty: its value reads as `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> Document<'a> {
    /// Parses JSON text, borrowing its strings.
    pub fn parse(bytes: &'a [u8]) -> Result<Document<'a>, serde_json::Error> {
        // About one node per 8 bytes of the order bodies APIs take; more grows the vector.
        let mut nodes = Vec::with_capacity((bytes.len() / 8).clamp(8, 1 << 16));
        let mut parser = serde_json::Deserializer::from_slice(bytes);
        Seed(&mut nodes).deserialize(&mut parser)?;
        parser.end()?;
        Ok(Document { nodes })
    }

    /// The tape of an owned JSON value (a form or a parameter object), borrowing it.
    pub fn from_json(value: &'a serde_json::Value) -> Document<'a> {
        let mut nodes = Vec::new();
        // Reading a `serde_json::Value` cannot fail: every value is JSON.
        if Seed(&mut nodes).deserialize(value).is_err() {
            nodes.clear();
        }
        Document { nodes }
    }

    /// The document's value.
    pub fn root(&self) -> Value<'_> {
        static NULL: [Node<'static>; 1] = [Node::Null];
        if self.nodes.is_empty() {
            return Value(&NULL);
        }
        Value(&self.nodes)
    }
}

/// Builds the tape: a container's node is written first and completed once its contents
/// are on the tape after it.
struct Seed<'v, 'a>(&'v mut Vec<Node<'a>>);

impl<'de> DeserializeSeed<'de> for Seed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.0.push(Node::Null);
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        self.0.push(Node::Null);
        Ok(())
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.0.push(Node::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.0.push(Node::Number(v.into()));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.0.push(Node::Number(v.into()));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        let n = Number::from_f64(v).ok_or_else(|| E::custom("a number must be finite"))?;
        self.0.push(Node::Number(n));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Node::String(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Node::String(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Node::String(Cow::Owned(v)));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(Node::Array { len: 0, size: 0 });
        let mut len = 0;
        while seq.next_element_seed(Seed(&mut *self.0))?.is_some() {
            len += 1;
        }
        self.0[at] = Node::Array {
            len,
            size: self.0.len() - at,
        };
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(Node::Object { len: 0, size: 0 });
        let mut len = 0;
        while map.next_key_seed(KeySeed(&mut *self.0))?.is_some() {
            map.next_value_seed(Seed(&mut *self.0))?;
            len += 1;
        }
        self.0[at] = Node::Object {
            len,
            size: self.0.len() - at,
        };
        Ok(())
    }
}

/// An object member's name.
struct KeySeed<'v, 'a>(&'v mut Vec<Node<'a>>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Node::Key(Cow::Borrowed(v)));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.0.push(Node::Key(Cow::Owned(v.to_owned())));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.0.push(Node::Key(Cow::Owned(v)));
        Ok(())
    }
}

/// One JSON value of a [`Document`]: its node and, after it, those of its contents.
#[derive(Clone, Copy)]
pub struct Value<'t>(&'t [Node<'t>]);

impl<'t> Value<'t> {
    fn node(self) -> &'t Node<'t> {
        &self.0[0]
    }

    /// How many nodes the value spans.
    fn size(self) -> usize {
        match self.node() {
            Node::Array { size, .. } | Node::Object { size, .. } => *size,
            _ => 1,
        }
    }

    pub fn is_null(self) -> bool {
        matches!(self.node(), Node::Null)
    }

    pub fn is_boolean(self) -> bool {
        matches!(self.node(), Node::Bool(_))
    }

    pub fn is_number(self) -> bool {
        matches!(self.node(), Node::Number(_))
    }

    pub fn is_string(self) -> bool {
        matches!(self.node(), Node::String(_))
    }

    pub fn is_array(self) -> bool {
        matches!(self.node(), Node::Array { .. })
    }

    pub fn is_object(self) -> bool {
        matches!(self.node(), Node::Object { .. })
    }

    pub fn as_bool(self) -> Option<bool> {
        match self.node() {
            Node::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_number(self) -> Option<&'t Number> {
        match self.node() {
            Node::Number(n) => Some(n),
            _ => None,
        }
    }

    pub fn as_str(self) -> Option<&'t str> {
        match self.node() {
            Node::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(self) -> Option<Array<'t>> {
        match self.node() {
            Node::Array { len, size } => Some(Array {
                len: *len,
                nodes: &self.0[1..*size],
            }),
            _ => None,
        }
    }

    pub fn as_object(self) -> Option<Object<'t>> {
        match self.node() {
            Node::Object { len, size } => Some(Object {
                len: *len,
                nodes: &self.0[1..*size],
            }),
            _ => None,
        }
    }
}

impl Value<'_> {
    /// JSON equality as JSON Schema defines it: numbers by mathematical value (`1 == 1.0`),
    /// objects regardless of member order.
    pub fn json_eq(self, other: Value<'_>) -> bool {
        match (self.node(), other.node()) {
            (Node::String(x), Node::String(y)) => x == y,
            (Node::Number(x), Node::Number(y)) => number_equal(x, y),
            (Node::Bool(x), Node::Bool(y)) => x == y,
            (Node::Null, Node::Null) => true,
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
                n == m
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| v.json_eq(w)))
            }
            _ => false,
        }
    }
}

/// Integers exactly, anything else as `f64`.
fn number_equal(x: &Number, y: &Number) -> bool {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (exact(x), exact(y)) {
        (Some(a), Some(b)) => a == b,
        _ => x.as_f64() == y.as_f64(),
    }
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
            Node::Null | Node::Key(_) => serializer.serialize_unit(),
            Node::Bool(b) => serializer.serialize_bool(*b),
            Node::Number(n) => n.serialize(serializer),
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
    pub fn len(self) -> usize {
        self.len
    }

    pub fn is_empty(self) -> bool {
        self.len == 0
    }

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

    fn next(&mut self) -> Option<Value<'t>> {
        if self.left == 0 || self.rest.is_empty() {
            return None;
        }
        let item = Value(self.rest);
        self.rest = &self.rest[item.size()..];
        self.left -= 1;
        Some(item)
    }

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
    /// The number of members (a name given twice counts twice).
    pub fn len(self) -> usize {
        self.len
    }

    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    pub fn iter(self) -> Members<'t> {
        Members { rest: self.nodes }
    }

    /// The value of the first member named `key`.
    pub fn get(self, key: &str) -> Option<Value<'t>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    pub fn contains_key(self, key: &str) -> bool {
        self.iter().any(|(k, _)| k == key)
    }
}

/// The members of an [`Object`]: name and value.
pub struct Members<'t> {
    rest: &'t [Node<'t>],
}

impl<'t> Iterator for Members<'t> {
    type Item = (&'t str, Value<'t>);

    fn next(&mut self) -> Option<(&'t str, Value<'t>)> {
        let (Node::Key(key), rest) = self.rest.split_first()? else {
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
        let document = Document::parse(text.as_bytes()).unwrap();
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
        for bad in ["", "[1,", "{\"a\" 1}", "[1] 2", "{1: 2}"] {
            assert!(Document::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = Document::parse(deep.as_bytes()).unwrap_err();
        assert!(error.to_string().contains("recursion limit"), "{error}");
        // Bignums as serde_json reads them: beyond 64 bits, a float.
        let big =
            Document::parse(b"98249283749234923498293171823948729348710298301928331").unwrap();
        assert!(big.root().as_number().unwrap().is_f64());
    }
}
