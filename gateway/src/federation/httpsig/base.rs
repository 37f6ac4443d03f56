//! RFC 9421 building blocks: component identifiers, signature parameters, their structured-field
//! serialisation (RFC 8941 subset) and the signature base (section 2.5).
//!
//! The parser is strict and accepts only what the `pes-fed-v1` profile emits: string component
//! names with the `req` and `key` parameters (in that order), and integer or string signature
//! parameters. Anything else is refused, never guessed at.

use std::fmt::Write as _;

use super::SignatureError;

/// A covered component: a derived component (`@method`) or a field name, possibly taken from
/// the request (`;req`) and possibly one member of a dictionary field (`;key="..."`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentId {
    /// Lowercase component name.
    pub name: String,
    /// Taken from the request that this response answers.
    pub req: bool,
    /// Dictionary member of the field.
    pub key: Option<String>,
}

impl ComponentId {
    /// A component of the message itself.
    pub fn new(name: &str) -> Self {
        ComponentId {
            name: name.to_owned(),
            req: false,
            key: None,
        }
    }

    /// A component of the request (`;req`), used when signing a response.
    pub fn of_request(name: &str) -> Self {
        ComponentId {
            req: true,
            ..ComponentId::new(name)
        }
    }

    /// Selects one dictionary member (`;key="..."`).
    pub fn with_key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    /// Serialisation as in the signature base and `Signature-Input`.
    pub fn serialize(&self) -> String {
        let mut out = sf_string(&self.name);
        if self.req {
            out.push_str(";req");
        }
        if let Some(key) = &self.key {
            out.push_str(";key=");
            out.push_str(&sf_string(key));
        }
        out
    }
}

/// A signature parameter value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// sf-integer (`created`, `expires`).
    Int(i64),
    /// sf-string (`nonce`, `keyid`, `alg`, `tag`).
    Str(String),
}

/// The covered components and parameters of one signature, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignatureParams {
    /// Covered components, in order.
    pub components: Vec<ComponentId>,
    /// Parameters, in order.
    pub params: Vec<(String, ParamValue)>,
}

impl SignatureParams {
    /// Adds an integer parameter.
    pub fn int(mut self, name: &str, v: i64) -> Self {
        self.params.push((name.to_owned(), ParamValue::Int(v)));
        self
    }

    /// Adds a string parameter.
    pub fn string(mut self, name: &str, v: &str) -> Self {
        self.params
            .push((name.to_owned(), ParamValue::Str(v.to_owned())));
        self
    }

    /// Integer parameter `name`, if present.
    pub fn get_int(&self, name: &str) -> Option<i64> {
        self.params.iter().find_map(|(n, v)| match v {
            ParamValue::Int(i) if n == name => Some(*i),
            _ => None,
        })
    }

    /// String parameter `name`, if present.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|(n, v)| match v {
            ParamValue::Str(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// The inner list with parameters, as in `Signature-Input` and `@signature-params`.
    pub fn serialize(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&c.serialize());
        }
        out.push(')');
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            out.push('=');
            match value {
                ParamValue::Int(i) => {
                    let _ = write!(out, "{i}");
                }
                ParamValue::Str(s) => out.push_str(&sf_string(s)),
            }
        }
        out
    }

    /// Parses an inner list with parameters (the value of one `Signature-Input` member).
    pub fn parse(input: &str) -> Result<Self, SignatureError> {
        let mut p = Parser::new(input);
        p.expect(b'(')?;
        let mut components = Vec::new();
        loop {
            if p.eat(b')') {
                break;
            }
            if !components.is_empty() {
                p.expect(b' ')?;
            }
            let name = p.string()?;
            let mut id = ComponentId::new(&name);
            if p.eat_str(";req") {
                id.req = true;
            }
            if p.eat_str(";key=") {
                id.key = Some(p.string()?);
            }
            components.push(id);
        }
        let mut params: Vec<(String, ParamValue)> = Vec::new();
        while p.eat(b';') {
            let name = p.key()?;
            p.expect(b'=')?;
            let value = if p.peek() == Some(b'"') {
                ParamValue::Str(p.string()?)
            } else {
                ParamValue::Int(p.integer()?)
            };
            if params.iter().any(|(n, _)| *n == name) {
                return Err(malformed("duplicate signature parameter"));
            }
            params.push((name, value));
        }
        p.end()?;
        Ok(SignatureParams { components, params })
    }
}

/// Builds the signature base (RFC 9421 section 2.5): one line per covered component, then the
/// `@signature-params` line, with no trailing newline. `resolve` gives each component's value;
/// a missing component is an error, as the RFC requires.
pub fn signature_base(
    params: &SignatureParams,
    resolve: impl Fn(&ComponentId) -> Option<String>,
) -> Result<String, SignatureError> {
    let mut base = String::new();
    for c in &params.components {
        if c.name == "@signature-params" {
            return Err(malformed("@signature-params cannot be covered"));
        }
        let value = resolve(c).ok_or_else(|| {
            SignatureError::Malformed(format!("covered component {} is missing", c.serialize()))
        })?;
        if value.contains('\n') || value.contains('\r') {
            return Err(malformed("component value contains a line break"));
        }
        let _ = writeln!(base, "{}: {value}", c.serialize());
    }
    let _ = write!(base, "\"@signature-params\": {}", params.serialize());
    Ok(base)
}

/// Splits a single-member dictionary header `label=value` (the profile allows one signature per
/// message). Returns (label, value).
pub fn single_member(header: &str) -> Result<(&str, &str), SignatureError> {
    let header = header.trim();
    let eq = header
        .find('=')
        .ok_or_else(|| malformed("dictionary member without value"))?;
    let (label, value) = (&header[..eq], &header[eq + 1..]);
    let mut p = Parser::new(label);
    p.key()?;
    p.end()?;
    Ok((label, value))
}

/// Decodes an sf-binary `:base64:`.
pub fn parse_binary(value: &str) -> Result<Vec<u8>, SignatureError> {
    use base64::Engine as _;
    let inner = value
        .strip_prefix(':')
        .and_then(|v| v.strip_suffix(':'))
        .ok_or_else(|| malformed("byte sequence not within colons"))?;
    base64::engine::general_purpose::STANDARD
        .decode(inner)
        .map_err(|_| malformed("byte sequence is not base64"))
}

/// Encodes an sf-binary `:base64:`.
pub fn binary(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Serialises an sf-string. Callers only pass printable ASCII (component names, kids, nonces).
pub fn sf_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
    out
}

fn malformed(what: &str) -> SignatureError {
    SignatureError::Malformed(what.to_owned())
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn new(s: &'a str) -> Self {
        Parser {
            s: s.as_bytes(),
            i: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn eat_str(&mut self, lit: &str) -> bool {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), SignatureError> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(SignatureError::Malformed(format!(
                "expected {:?} at offset {}",
                b as char, self.i
            )))
        }
    }

    fn end(&self) -> Result<(), SignatureError> {
        if self.i == self.s.len() {
            Ok(())
        } else {
            Err(malformed("trailing characters"))
        }
    }

    /// sf-string: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, printable ASCII only.
    fn string(&mut self) -> Result<String, SignatureError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let b = self
                .peek()
                .ok_or_else(|| malformed("unterminated string"))?;
            self.i += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = self
                        .peek()
                        .ok_or_else(|| malformed("unterminated escape"))?;
                    if e != b'"' && e != b'\\' {
                        return Err(malformed("bad escape in string"));
                    }
                    self.i += 1;
                    out.push(e as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => return Err(malformed("non-printable character in string")),
            }
        }
    }

    /// sf-key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
    fn key(&mut self) -> Result<String, SignatureError> {
        let start = self.i;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.i += 1,
            _ => return Err(malformed("bad key")),
        }
        while let Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*') = self.peek() {
            self.i += 1;
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// sf-integer: ["-"] 1*15DIGIT.
    fn integer(&mut self) -> Result<i64, SignatureError> {
        let start = self.i;
        self.eat(b'-');
        let digits = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        let n = self.i - digits;
        if n == 0 || n > 15 {
            return Err(malformed("bad integer"));
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| malformed("bad integer"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id_strategy() -> impl Strategy<Value = ComponentId> {
        (
            "[@a-z][a-z0-9-]{0,15}",
            any::<bool>(),
            proptest::option::of("[a-z][a-z0-9]{0,6}"),
        )
            .prop_map(|(name, req, key)| ComponentId { name, req, key })
    }

    fn value_strategy() -> impl Strategy<Value = ParamValue> {
        prop_oneof![
            (-999_999_999_999_999i64..=999_999_999_999_999).prop_map(ParamValue::Int),
            "[ -~]{0,20}".prop_map(ParamValue::Str),
        ]
    }

    proptest! {
        #[test]
        fn serialize_then_parse_round_trips(
            components in proptest::collection::vec(id_strategy(), 0..6),
            params in proptest::collection::btree_map("[a-z][a-z0-9]{0,8}", value_strategy(), 0..6),
        ) {
            let p = SignatureParams { components, params: params.into_iter().collect() };
            prop_assert_eq!(SignatureParams::parse(&p.serialize()).unwrap(), p);
        }

        #[test]
        fn parser_never_panics(input in "\\PC{0,80}") {
            let _ = SignatureParams::parse(&input);
            let _ = single_member(&input);
            let _ = parse_binary(&input);
        }
    }

    #[test]
    fn strict_parser_refuses_what_the_profile_never_emits() {
        for bad in [
            "(\"a\" \"b\"",                // unterminated list
            "(\"a\"  \"b\")",              // double space
            "(\"a\";foo)",                 // unknown component parameter
            "(\"a\");created=1.5",         // decimal
            "(\"a\");created=1;created=2", // duplicate
            "(\"a\");Created=1",           // uppercase key
            "(\"a\\x\")",                  // bad escape
            "(\"a\") ",                    // trailing space
        ] {
            assert!(SignatureParams::parse(bad).is_err(), "accepted {bad:?}");
        }
    }
}
