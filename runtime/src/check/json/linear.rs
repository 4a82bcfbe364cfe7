//! The translation of an ECMA-262 `pattern` (Unicode mode, no other flag) into the syntax
//! of the `regex` crate, whose automata match in time linear in the input, where every
//! construct has an exact equivalent. Only a known subset is accepted; anything else
//! (lookaround, backreferences, named groups, `\p{..}`, `\B`, `\c`, empty classes) is
//! refused and left to the backtracking engine.
//!
//! The classes ECMA-262 defines differently from `regex` are spelled out as code points:
//! `\d` `\w` `\b` are ASCII, `\s` is WhiteSpace and LineTerminator, `.` excludes the four
//! line terminators, `^` and `$` are the ends of the input.
//!
//! This file has no dependencies: the compiler includes it too, to warn at generate time
//! about the patterns that will backtrack.

use std::fmt::Write;

/// `\s`: WhiteSpace (TAB, VT, FF, SP, NBSP, ZWNBSP, Zs) and LineTerminator (LF, CR, LS, PS).
const SPACE: &str = r"\x{9}-\x{D}\x{20}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";

/// The `regex` syntax of `source`, matched with `flags`, or `None` where the translation
/// might not be exact. The caller has checked that `source` is valid ECMA-262 with
/// `flags` (the translation assumes the Unicode-mode grammar).
pub fn translate(source: &str, flags: &str) -> Option<String> {
    if flags != "u" {
        // Without `u`, classes and `.` see UTF-16 code units and Annex B's grammar applies.
        return None;
    }
    let mut parser = Parser {
        chars: source.chars().collect(),
        at: 0,
        out: String::with_capacity(source.len() * 2),
        depth: 0,
    };
    parser.disjunction()?;
    (parser.at == parser.chars.len()).then_some(parser.out)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    out: String,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.at).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += 1;
        Some(c)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn disjunction(&mut self) -> Option<()> {
        loop {
            self.alternative()?;
            if !self.eat('|') {
                return Some(());
            }
            self.out.push('|');
        }
    }

    fn alternative(&mut self) -> Option<()> {
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            self.term()?;
        }
        Some(())
    }

    fn term(&mut self) -> Option<()> {
        let quantifiable = match self.next()? {
            '^' => {
                self.out.push_str(r"\A");
                false
            }
            '$' => {
                self.out.push_str(r"\z");
                false
            }
            '(' => {
                // Captures do not change whether the pattern matches; `(?:` is a group.
                if self.eat('?') && !self.eat(':') {
                    return None;
                }
                self.depth += 1;
                if self.depth > 64 {
                    return None;
                }
                self.out.push_str("(?:");
                self.disjunction()?;
                if !self.eat(')') {
                    return None;
                }
                self.depth -= 1;
                self.out.push(')');
                true
            }
            '.' => {
                self.out.push_str(r"[^\x{A}\x{D}\x{2028}\x{2029}]");
                true
            }
            '[' => {
                self.class()?;
                true
            }
            '\\' => match self.peek()? {
                'b' => {
                    self.at += 1;
                    // ASCII word characters on both sides, as ECMA-262's \b without `i`.
                    self.out.push_str(r"(?-u:\b)");
                    false
                }
                _ => {
                    match self.escape()? {
                        Atom::Char(c) => literal(&mut self.out, c),
                        Atom::Class(ranges, negated) => {
                            self.out.push_str(if negated { "[^" } else { "[" });
                            self.out.push_str(ranges);
                            self.out.push(']');
                        }
                    }
                    true
                }
            },
            ')' | ']' | '{' | '}' | '*' | '+' | '?' => return None,
            c => {
                literal(&mut self.out, c);
                true
            }
        };
        self.quantifier(quantifiable)
    }

    fn quantifier(&mut self, quantifiable: bool) -> Option<()> {
        let start = self.out.len();
        match self.peek() {
            Some('*' | '+' | '?') => {
                let c = self.next()?;
                self.out.push(c);
            }
            Some('{') => {
                self.at += 1;
                let low = self.number()?;
                self.out.push('{');
                write!(self.out, "{low}").ok()?;
                if self.eat(',') {
                    self.out.push(',');
                    if self.peek() != Some('}') {
                        let high = self.number()?;
                        if high < low {
                            return None;
                        }
                        write!(self.out, "{high}").ok()?;
                    }
                }
                if !self.eat('}') {
                    return None;
                }
                self.out.push('}');
            }
            _ => return Some(()),
        }
        if !quantifiable {
            return None;
        }
        // Laziness does not change whether the pattern matches, but `regex` has it too.
        if self.eat('?') {
            self.out.push('?');
        }
        if matches!(self.peek(), Some('*' | '+' | '?' | '{')) {
            return None;
        }
        debug_assert!(self.out.len() > start);
        Some(())
    }

    fn number(&mut self) -> Option<u32> {
        let start = self.at;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if self.at == start {
            return None;
        }
        let text: String = self.chars[start..self.at].iter().collect();
        // A count too large for `regex` fails its size limit, and `regress` keeps it.
        text.parse().ok()
    }

    /// After a `\`, outside or inside a class (where `\b` was already handled).
    fn escape(&mut self) -> Option<Atom> {
        let c = self.next()?;
        Some(match c {
            'd' => Atom::Class(DIGIT, false),
            'D' => Atom::Class(DIGIT, true),
            'w' => Atom::Class(WORD, false),
            'W' => Atom::Class(WORD, true),
            's' => Atom::Class(SPACE, false),
            'S' => Atom::Class(SPACE, true),
            't' => Atom::Char('\t'),
            'n' => Atom::Char('\n'),
            'r' => Atom::Char('\r'),
            'f' => Atom::Char('\x0C'),
            'v' => Atom::Char('\x0B'),
            // `\0` followed by a digit is a (refused) octal or backreference.
            '0' if !self.peek().is_some_and(|c| c.is_ascii_digit()) => Atom::Char('\0'),
            'x' => {
                let value = self.hex(2)?;
                Atom::Char(char::from_u32(value)?)
            }
            'u' => Atom::Char(self.unicode_escape()?),
            '^' | '$' | '\\' | '.' | '*' | '+' | '?' | '(' | ')' | '[' | ']' | '{' | '}' | '|'
            | '/' => Atom::Char(c),
            _ => return None,
        })
    }

    fn hex(&mut self, digits: usize) -> Option<u32> {
        let mut value = 0;
        for _ in 0..digits {
            value = value * 16 + self.next()?.to_digit(16)?;
        }
        Some(value)
    }

    /// After `\u`: `{X...}`, or four digits, two of which (a surrogate pair) make one code
    /// point in Unicode mode. A lone surrogate has no `regex` equivalent.
    fn unicode_escape(&mut self) -> Option<char> {
        if self.eat('{') {
            let mut value: u32 = 0;
            let mut digits = 0;
            while !self.eat('}') {
                value = value.checked_mul(16)? + self.next()?.to_digit(16)?;
                digits += 1;
                if digits > 8 {
                    return None;
                }
            }
            return char::from_u32(value);
        }
        let high = self.hex(4)?;
        if (0xD800..0xDC00).contains(&high) {
            let rest = self.chars.get(self.at..self.at + 2)?;
            if rest != ['\\', 'u'] {
                return None;
            }
            self.at += 2;
            let low = self.hex(4)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            return char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00));
        }
        char::from_u32(high)
    }

    fn class(&mut self) -> Option<()> {
        let negated = self.eat('^');
        // `[]` and `[^]` have no spelling in `regex`.
        if self.peek() == Some(']') {
            return None;
        }
        self.out.push_str(if negated { "[^" } else { "[" });
        loop {
            let low = match self.class_atom()? {
                None => break,
                Some(Atom::Class(ranges, negated)) => {
                    push_class(&mut self.out, ranges, negated);
                    continue;
                }
                Some(Atom::Char(c)) => c,
            };
            let range = self.peek() == Some('-') && self.chars.get(self.at + 1) != Some(&']');
            if !range {
                literal(&mut self.out, low);
                continue;
            }
            self.at += 1;
            let Some(Atom::Char(high)) = self.class_atom()? else {
                return None;
            };
            if high < low {
                return None;
            }
            literal(&mut self.out, low);
            self.out.push('-');
            literal(&mut self.out, high);
        }
        self.out.push(']');
        Some(())
    }

    /// `None` at the closing `]`.
    fn class_atom(&mut self) -> Option<Option<Atom>> {
        Some(match self.next()? {
            ']' => None,
            '\\' => match self.peek()? {
                'b' => {
                    self.at += 1;
                    Some(Atom::Char('\x08'))
                }
                '-' => {
                    self.at += 1;
                    Some(Atom::Char('-'))
                }
                _ => Some(self.escape()?),
            },
            c => Some(Atom::Char(c)),
        })
    }
}

enum Atom {
    Char(char),
    /// Ranges in `regex` class syntax, and whether the class is negated.
    Class(&'static str, bool),
}

/// Inside a class: a negated one nests, which `regex` reads as a union.
fn push_class(out: &mut String, ranges: &str, negated: bool) {
    if negated {
        out.push_str("[^");
        out.push_str(ranges);
        out.push(']');
    } else {
        out.push_str(ranges);
    }
}

/// Letters and digits as themselves, anything else as its code point, so no character
/// means something else to `regex`.
fn literal(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    }
}
