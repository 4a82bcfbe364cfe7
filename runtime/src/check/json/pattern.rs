//! `pattern` of body schemas and parameters: ECMA-262, matched by one of three engines.
//! The shape most API patterns have — anchored at both ends, a sequence of literals and
//! character classes with quantifiers (`^[A-Z]{3}-[0-9]{4,8}$`) — is matched in one pass
//! without backtracking, where one greedy pass decides exactly what the regex would (each
//! variable-length part's characters cannot start what follows). Any other pattern whose
//! every construct has an exact `regex` equivalent (see [`linear`](super::linear)) goes
//! to `regex`'s automata, linear in the input, since a backtracking engine lets a hostile
//! value cost quadratic or exponential time whatever its `maxLength`. Only the rest
//! (lookaround, backreferences, `\p{..}`, non-Unicode mode) goes to `regress`, which
//! backtracks; the compiler warns about those.

use std::sync::OnceLock;

/// A compiled-on-first-use `pattern` (ECMA-262, unanchored search).
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    /// `u` (Unicode semantics) unless the pattern only compiles without it; the compiler
    /// chooses.
    flags: &'static str,
    compiled: OnceLock<Compiled>,
}

#[derive(Debug)]
enum Compiled {
    /// The elements, and whether every class is ASCII (the value is then read as bytes).
    Simple(Vec<Element>, bool),
    Linear(regex::Regex),
    /// `None`: did not compile (the compiler checks it does): matches nothing.
    Regex(Option<regress::Regex>),
}

/// One character class with its repetition bounds.
#[derive(Debug, Clone, PartialEq)]
struct Element {
    /// Inclusive ranges of code points.
    class: Vec<(char, char)>,
    /// Whether each ASCII character is in `class`.
    ascii: [bool; 128],
    min: usize,
    max: usize,
}

impl Element {
    fn new(class: Vec<(char, char)>, min: usize, max: usize) -> Element {
        let mut ascii = [false; 128];
        for (low, high) in &class {
            let (low, high) = (*low as usize, (*high as usize).min(127));
            if low <= high {
                ascii[low..=high].fill(true);
            }
        }
        Element {
            class,
            ascii,
            min,
            max,
        }
    }

    fn is_ascii(&self) -> bool {
        self.class.iter().all(|(_, high)| high.is_ascii())
    }

    fn matches_byte(&self, b: u8) -> bool {
        self.ascii.get(usize::from(b)).is_some_and(|m| *m)
    }

    fn matches(&self, c: char) -> bool {
        if c.is_ascii() {
            return self.matches_byte(c as u8);
        }
        self.class
            .iter()
            .any(|(low, high)| (*low..=*high).contains(&c))
    }

    fn overlaps(&self, other: &Element) -> bool {
        self.class
            .iter()
            .any(|(a, b)| other.class.iter().any(|(c, d)| a <= d && c <= b))
    }
}

/// How a [`Pattern`] is matched: the work its matching can take on hostile input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// The one-pass matcher of anchored class/literal sequences.
    Fast,
    /// A finite automaton (`regex`): time linear in the input.
    Linear,
    /// `regress`, which backtracks: quadratic or exponential on some inputs.
    Backtracking,
}

impl Pattern {
    pub const fn new(source: &'static str, flags: &'static str) -> Pattern {
        Pattern {
            source,
            flags,
            compiled: OnceLock::new(),
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// A parameter's check: the message names the pattern.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if self.is_match(value) {
            Ok(())
        } else {
            Err(format!("must match the pattern `{}`", self.source))
        }
    }

    /// The engine this pattern is matched with.
    pub fn engine(&self) -> Engine {
        match self.compiled() {
            Compiled::Simple(..) => Engine::Fast,
            Compiled::Linear(_) => Engine::Linear,
            Compiled::Regex(_) => Engine::Backtracking,
        }
    }

    fn compiled(&self) -> &Compiled {
        self.compiled.get_or_init(|| {
            // Code points, as in Unicode mode (without it, classes see UTF-16 units).
            let fast = if self.flags.contains('u') {
                simple(self.source)
            } else {
                None
            };
            match fast {
                Some(elements) => {
                    let ascii = elements.iter().all(Element::is_ascii);
                    Compiled::Simple(elements, ascii)
                }
                None => {
                    // `regress` decides which patterns are valid, so that the engine
                    // chosen never changes what compiles.
                    let Ok(backtracking) = regress::Regex::with_flags(self.source, self.flags)
                    else {
                        return Compiled::Regex(None);
                    };
                    match linear(self.source, self.flags) {
                        Some(regex) => Compiled::Linear(regex),
                        None => Compiled::Regex(Some(backtracking)),
                    }
                }
            }
        })
    }

    /// Whether the pattern matches somewhere in `value`.
    #[inline]
    pub fn is_match(&self, value: &str) -> bool {
        match self.compiled() {
            Compiled::Simple(elements, true) => ascii_match(elements, value.as_bytes()),
            Compiled::Simple(elements, false) => simple_match(elements, value),
            Compiled::Linear(regex) => regex.is_match(value),
            Compiled::Regex(Some(regex)) => regex.find(value).is_some(),
            Compiled::Regex(None) => false,
        }
    }
}

/// `source`, valid ECMA-262 with `flags`, as a `regex` that matches the same strings;
/// `None` where no exact translation is known or it does not compile (such as a counted
/// repetition past `regex`'s size limit).
pub fn linear(source: &str, flags: &str) -> Option<regex::Regex> {
    regex::Regex::new(&super::linear::translate(source, flags)?).ok()
}

/// [`simple_match`] for ASCII classes: a byte that is not ASCII matches none of them, as
/// its character would not.
fn ascii_match(elements: &[Element], value: &[u8]) -> bool {
    let mut at = 0;
    for element in elements {
        let mut n = 0;
        while n < element.max && at < value.len() && element.matches_byte(value[at]) {
            at += 1;
            n += 1;
        }
        if n < element.min {
            return false;
        }
    }
    at == value.len()
}

fn simple_match(elements: &[Element], value: &str) -> bool {
    let mut chars = value.chars().peekable();
    for element in elements {
        let mut n = 0;
        while n < element.max {
            match chars.peek() {
                Some(c) if element.matches(*c) => {
                    chars.next();
                    n += 1;
                }
                _ => break,
            }
        }
        if n < element.min {
            return false;
        }
    }
    chars.next().is_none()
}

/// The elements of an anchored pattern of classes and literals whose greedy match is
/// exact; `None` for anything else.
fn simple(source: &str) -> Option<Vec<Element>> {
    let body = source.strip_prefix('^')?.strip_suffix('$')?;
    if body.ends_with('\\') {
        return None;
    }
    let mut elements = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        let class = match c {
            '[' => {
                let mut class = Vec::new();
                let mut first = true;
                loop {
                    let c = chars.next()?;
                    match c {
                        ']' if !first => break,
                        // `[]` matches nothing, `[^...]` negates: regress decides.
                        ']' | '^' if first => return None,
                        '[' => return None,
                        _ => {}
                    }
                    first = false;
                    let low = match c {
                        '\\' => match chars.next()? {
                            'd' => {
                                class.push(('0', '9'));
                                continue;
                            }
                            e if e.is_ascii_punctuation() => e,
                            _ => return None,
                        },
                        c => c,
                    };
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.peek() {
                            Some(']') => {
                                class.push((low, low));
                                class.push(('-', '-'));
                                continue;
                            }
                            Some('\\') | Some('[') | None => return None,
                            Some(&high) => {
                                chars.next();
                                if high < low {
                                    return None;
                                }
                                class.push((low, high));
                            }
                        }
                    } else {
                        class.push((low, low));
                    }
                }
                class
            }
            '\\' => match chars.next()? {
                'd' => vec![('0', '9')],
                e if e.is_ascii_punctuation() => vec![(e, e)],
                _ => return None,
            },
            '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | ']' | '{' | '}' => return None,
            c => vec![(c, c)],
        };
        let (min, max) = match chars.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('{') => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next()? {
                        '}' => break,
                        c if c.is_ascii_digit() || c == ',' => text.push(c),
                        _ => return None,
                    }
                }
                let bounds = match text.split_once(',') {
                    None => {
                        let n = text.parse().ok()?;
                        (n, n)
                    }
                    Some((low, "")) => (low.parse().ok()?, usize::MAX),
                    Some((low, high)) => (low.parse().ok()?, high.parse().ok()?),
                };
                if bounds.0 > bounds.1 {
                    return None;
                }
                // `{` handled; the others are consumed below.
                elements.push(Element::new(class, bounds.0, bounds.1));
                if matches!(chars.peek(), Some('?' | '*' | '+' | '{')) {
                    return None;
                }
                continue;
            }
            _ => (1, 1),
        };
        if min != 1 || max != 1 {
            chars.next();
        }
        if matches!(chars.peek(), Some('?' | '*' | '+' | '{')) {
            return None;
        }
        elements.push(Element::new(class, min, max));
    }
    // A greedy pass is exact when no variable-length element can take a character that
    // one of the elements it could hand it to would need.
    for (i, element) in elements.iter().enumerate() {
        if element.min == element.max {
            continue;
        }
        for next in &elements[i + 1..] {
            if element.overlaps(next) {
                return None;
            }
            if next.min > 0 {
                break;
            }
        }
    }
    Some(elements)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_search_unanchored_and_name_the_pattern() {
        let sku = Pattern::new("^[A-Z]{3}-[0-9]{4,8}$", "u");
        assert_eq!(sku.check("BOK-0042"), Ok(()));
        assert_eq!(
            sku.check("../admin"),
            Err("must match the pattern `^[A-Z]{3}-[0-9]{4,8}$`".to_owned())
        );
        // Unanchored search, as ECMA-262 and JSON Schema mean it.
        assert_eq!(Pattern::new("b+", "u").check("abba"), Ok(()));
        // A pattern that does not compile matches nothing: refused rather than let through.
        assert!(Pattern::new("(", "u").check("(").is_err());
        assert_eq!(Pattern::new("^\\p{Ll}+$", "u").check("über"), Ok(()));
        assert!(Pattern::new("^\\p{Ll}+$", "u").check("Über").is_err());
        // Non-ASCII text against an ASCII class (the byte path): refused.
        assert!(sku.check("BÖK-0042").is_err());
        assert!(Pattern::new("^[a-zé]+$", "u").check("café").is_ok());
    }

    fn both(source: &'static str, inputs: &[&str]) {
        let pattern = Pattern::new(source, "u");
        let regex = regress::Regex::with_flags(source, "u").unwrap();
        for input in inputs {
            assert_eq!(
                pattern.is_match(input),
                regex.find(input).is_some(),
                "{source} on {input:?}"
            );
        }
    }

    #[test]
    fn simple_patterns_are_taken_and_agree_with_regress() {
        for source in [
            "^[A-Z]{3}-[0-9]{4,8}$",
            "^[a-z0-9-]{1,32}$",
            "^-?[0-9]+$",
            "^[a-z]{2}(-[A-Z]{2})?$",
            "^\\d{3}\\.\\d+$",
            "^[A-Z]{2}$",
            "^x*y$",
            "^[-a]+b?$",
        ] {
            let inputs = [
                "",
                "ABC-1234",
                "ABC-123456789",
                "abc-1234",
                "AB-1234",
                "ab",
                "ab-CD",
                "a",
                "-12",
                "12",
                "--1",
                "123.4",
                "123.",
                "1234.5",
                "AB",
                "ABC",
                "xxy",
                "y",
                "xyx",
                "a-ab",
                "-b",
                "é",
            ];
            both(source, &inputs);
        }
        assert!(simple("^[A-Z]{3}-[0-9]{4,8}$").is_some());
        assert!(simple("^[a-z0-9-]{1,32}$").is_some());
        // Groups, alternation, unanchored, backtracking-dependent: regress decides.
        for source in [
            "^(a|b)$", "abc", "^a*a$", "^[^a]+$", "^a+?$", "^.{2}$", "^\\w+$", "^[]a]$",
        ] {
            assert!(simple(source).is_none(), "{source}");
        }
        both("^a*a$", &["a", "aa", ""]);
        // Without Unicode mode, regress decides (classes see UTF-16 units).
        let units = Pattern::new("^[a]$", "");
        assert!(units.is_match("a") && !units.is_match("b"));
    }

    /// The translation against `regress` on the characters where ECMA-262 and `regex`
    /// disagree by default: `\s`, `.`, `\d`, `\w`, `\b`, astral characters, the ends.
    #[test]
    fn linear_patterns_agree_with_regress() {
        let patterns = [
            r"^\s+$",
            r"\S",
            r"^\S+@\S+\.\S+$",
            r"^.$",
            r"^.+$",
            r"a.b",
            r"^\d+$",
            r"\D",
            r"^\w+$",
            r"\W",
            r"\bé",
            r"é\b",
            r"\ba",
            r"a\b",
            r"^[\s\d]+$",
            r"^[^\s]+$",
            r"^[\S]+$",
            r"^[\W\d]$",
            r"^[^\w]$",
            r"^\u{1F600}+$",
            r"^\uD83D\uDE00$",
            r"^[\u{1F600}-\u{1F64F}]$",
            r"^[^a]$",
            r"^\x41\u0042\t\n\r\f\v\0$",
            r"^[\b]$",
            r"^[a\-z]$",
            r"^[-a]$",
            r"^[a-]$",
            r"^[[]$",
            r"^[&&~~]+$",
            r"\/\.\*\+\?\(\)\[\]\{\}\|\^\$\\",
            r"(a+)+$",
            r"^(a|aa)+$",
            r"^(?:ab|a)*?b$",
            r"[0-9]+x",
            r"^a{2,3}$",
            r"^a{2,}$",
            r"^a{0}b$",
            r"^(a|)$",
            r"()",
            r"^$",
            r"$^",
            r"a$|^b",
            r"^#[0-9a-fA-F]{6}$",
        ];
        let inputs = [
            "",
            " ",
            "\t",
            "\u{0B}",
            "\u{0C}",
            "\n",
            "\r",
            "\u{85}",
            "\u{A0}",
            "\u{1680}",
            "\u{2000}",
            "\u{200A}",
            "\u{200B}",
            "\u{2028}",
            "\u{2029}",
            "\u{202F}",
            "\u{205F}",
            "\u{3000}",
            "\u{FEFF}",
            "\u{180E}",
            "a\rb",
            "a\u{2028}b",
            "a\nb",
            "axb",
            "a.b",
            "٣",
            "123",
            "12٣",
            "é",
            "café",
            "aé",
            "éa",
            "a",
            "ab",
            "aa",
            "aaa",
            "aaaa!",
            "b",
            "ba",
            "aab",
            "abab",
            "\u{1F600}",
            "\u{1F600}\u{1F600}",
            "\u{1F650}",
            "😀x",
            "AB\t\n\r\u{0C}\u{0B}\0",
            "\u{8}",
            "-",
            "z",
            "[",
            "&",
            "~",
            "&~",
            "/.*+?()[]{}|^$\\",
            "x@y.z",
            "x @y.z",
            "x@y",
            "\u{A0}@y.z",
            "123x",
            "123",
            "#a0B9fF",
            "#a0B9f",
            "_",
            "a_1",
            "ﬀ",
        ];
        for source in patterns {
            let regex = linear(source, "u").unwrap_or_else(|| panic!("{source}: not translated"));
            let backtracking = regress::Regex::with_flags(source, "u").unwrap();
            for input in inputs {
                assert_eq!(
                    regex.is_match(input),
                    backtracking.find(input).is_some(),
                    "{source} on {input:?}"
                );
            }
        }
        // No exact equivalent known: left to `regress`.
        for source in [
            r"(?=a)",
            r"(?!a)",
            r"(?<=a)b",
            r"(?<!a)b",
            r"(a)\1",
            r"(?<n>a)\k<n>",
            r"(?<n>a)",
            r"\p{L}",
            r"\P{L}",
            r"\B",
            r"\cA",
            r"[]",
            r"[^]",
            r"\uD83D",
        ] {
            assert!(linear(source, "u").is_none(), "{source}");
        }
        // Translated, but past `regex`'s size limit.
        assert!(super::super::linear::translate(r"((a{100}){100}){100}", "u").is_some());
        assert!(linear(r"((a{100}){100}){100}", "u").is_none());
        // Without Unicode mode, classes see UTF-16 code units.
        assert!(linear("^.$", "").is_none());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 300,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7061_7474_6572_6e31),
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]
        /// Random strings over the characters the patterns tell apart (ASCII, the
        /// whitespace and line terminators ECMA-262 and `regex` disagree on, non-ASCII
        /// letters and digits, an astral character): both engines say the same.
        #[test]
        fn linear_and_backtracking_engines_agree_on_random_strings(
            chars in proptest::collection::vec(proptest::sample::select(vec![
                'a', 'b', 'x', 'A', 'Z', '0', '9', '_', '-', '.', '@', '#', ' ', '\t', '\n',
                '\r', '\u{0B}', '\u{85}', '\u{A0}', '\u{2028}', '\u{FEFF}', '\u{3000}', 'é',
                '٣', 'ﬀ', '\u{1F600}',
            ]), 0..24),
        ) {
            let input: String = chars.into_iter().collect();
            for source in [
                r"^\S+@\S+\.\S+$", r"[0-9]+x", r"(a+)+$", r"^(a|ab|b)*x?$", r"\bx", r"x\b",
                r"^\w*\s\d+$", r"^.{2,5}$", r"^[^\s.]+(\.[^\s.]+)*$", r"^[\W_]+$", r"é|\u{1F600}",
                r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==)?$", r"^\s*$", r".\D",
            ] {
                let regex = linear(source, "u").unwrap();
                let backtracking = regress::Regex::with_flags(source, "u").unwrap();
                proptest::prop_assert_eq!(
                    regex.is_match(&input),
                    backtracking.find(&input).is_some(),
                    "{} on {:?}", source, input
                );
            }
        }
    }

    /// Issue 11: a pattern that backtracks lets a long value cost quadratic or exponential
    /// time, whatever its `maxLength`. Every pattern without lookaround or backreferences
    /// must go to an engine whose work is linear in the input.
    #[test]
    fn patterns_without_lookaround_or_backreferences_match_in_linear_time() {
        for (source, engine) in [
            ("^[A-Z]{3}-[0-9]{4,8}$", Engine::Fast),
            ("^\\S+@\\S+\\.\\S+$", Engine::Linear),
            ("[0-9]+x", Engine::Linear),
            ("(a+)+$", Engine::Linear),
            ("^(a|aa)+$", Engine::Linear),
            ("^.*a.*b.*c$", Engine::Linear),
            ("\\bword\\b", Engine::Linear),
            ("^[^\\s]+\\w*\\d?$", Engine::Linear),
            ("^\\u{1F600}+$", Engine::Linear),
            // Lookaround and backreferences have no automaton: they still backtrack.
            ("^(?=a)a+$", Engine::Backtracking),
            ("^(a)\\1$", Engine::Backtracking),
        ] {
            assert_eq!(Pattern::new(source, "u").engine(), engine, "{source}");
        }
        // A hostile value of 1 MiB: the old engine needed minutes on these.
        let hostile = "a".repeat(1 << 20);
        assert!(!Pattern::new("(a+)+$", "u").is_match(&format!("{hostile}!")));
        assert!(!Pattern::new("^\\S+@\\S+\\.\\S+$", "u").is_match(&hostile));
        assert!(!Pattern::new("[0-9]+x", "u").is_match(&"1".repeat(1 << 20)));
    }
}
