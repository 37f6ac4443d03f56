//! `pesgw config reference` and `pesgw config schema`: the `gateway.toml` reference, generated
//! from the config structs' doc comments (through their JSON Schema), so it cannot drift from the
//! code. `docs/config-reference.md` is this command's output; a test fails when it is stale.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use pes_gateway::config::GatewayConfig;
use serde_json::{Map, Value};

/// Arguments of `pesgw config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the Markdown reference of every key (docs/config-reference.md is its output).
    Reference,
    /// Print the JSON Schema of gateway.toml (for editors that validate TOML against one).
    Schema,
}

/// Runs `pesgw config`.
pub fn run(args: ConfigArgs) -> anyhow::Result<ExitCode> {
    let text = match args.command {
        ConfigCommand::Reference => reference(),
        ConfigCommand::Schema => {
            let mut s = serde_json::to_string_pretty(&schema()).context("encoding the schema")?;
            s.push('\n');
            s
        }
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth a message.
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// The JSON Schema of `gateway.toml`.
fn schema() -> Value {
    schemars::schema_for!(GatewayConfig).to_value()
}

/// One `[table]` of the reference: its heading, its schema, and whether it may be left out.
struct Section {
    heading: String,
    schema: Value,
    note: &'static str,
}

/// The Markdown reference of every key: name, type, default and meaning.
pub fn reference() -> String {
    let root = schema();
    let defs = root.get("$defs").cloned().unwrap_or(Value::Null);
    let mut out = String::from(HEADER);
    let mut queue = vec![Section {
        heading: "Top level".into(),
        schema: root,
        note: "",
    }];
    let mut i = 0;
    while i < queue.len() {
        let section = &queue[i];
        let mut nested = Vec::new();
        out.push_str(&format!("\n## {}\n\n", section.heading));
        // The root's title is the Rust type name: only its description is for operators.
        let intro = if i == 0 {
            section
                .schema
                .get("description")
                .map(|d| meaning(&serde_json::json!({ "description": d })))
                .unwrap_or_default()
        } else {
            meaning(&section.schema)
        };
        if !intro.is_empty() {
            out.push_str(&format!("{intro}{}\n\n", section.note));
        }
        out.push_str("| key | type | default | meaning |\n| --- | --- | --- | --- |\n");
        let prefix = table_prefix(&section.heading);
        for (name, prop, required) in properties(&section.schema) {
            let (ty, table) = type_of(&prop, &defs);
            let default = match prop.get("default") {
                Some(_) if table.as_ref().is_some_and(|(_, map)| !map) => {
                    "see its table".to_string()
                }
                Some(v) => show_default(&name, v),
                None if required => "required".to_string(),
                None => "unset".to_string(),
            };
            let mut text = meaning(&prop);
            if let Some((def, map)) = &table {
                if text.is_empty() {
                    text = meaning(def);
                }
                let heading = if *map {
                    format!("`[{prefix}{name}.<id>]`")
                } else {
                    format!("`[{prefix}{name}]`")
                };
                nested.push(Section {
                    heading,
                    schema: def.clone(),
                    note: if !required && prop.get("default").is_none() {
                        " The whole table is optional."
                    } else {
                        ""
                    },
                });
            }
            out.push_str(&format!(
                "| `{name}` | {ty} | {} | {} |\n",
                cell(&default),
                cell(&text)
            ));
        }
        queue.extend(nested);
        i += 1;
    }
    out
}

const HEADER: &str = "\
# `gateway.toml` reference

<!-- Generated: do not edit. Regenerate with
     cargo run -p pes-gateway --bin pesgw -- config reference > docs/config-reference.md
     `cargo test -p pes-gateway --test config_reference` fails when this file is stale. -->

Every key of a regional gateway's config file, from the doc comments of the config structs
(`gateway/src/config.rs`). `pesgw init` writes a working file; `pesgw serve --config FILE`
reads it. Unknown keys are refused, and every error names the key at fault.

- **type** `path`: a file or directory; a relative path is taken from the config file's
  directory.
- **default** `required`: the key must be set; `unset`: the key may be left out and then has no
  value (the meaning says what that does).
- `pesgw config schema` prints the same information as a JSON Schema.
";

/// The table a heading names (`[limits]` gives `limits.`), for the headings of nested tables.
fn table_prefix(heading: &str) -> String {
    heading
        .strip_prefix("`[")
        .and_then(|h| h.strip_suffix("]`"))
        .map(|h| format!("{h}."))
        .unwrap_or_default()
}

/// The properties of an object schema: name, schema, required; required keys first, then by
/// name (serde_json's map order depends on its features, so it is never relied on).
fn properties(schema: &Value) -> Vec<(String, Value, bool)> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut props: Vec<(String, Value, bool)> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.clone(), required.contains(&k.as_str())))
                .collect()
        })
        .unwrap_or_default();
    props.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    props
}

/// The schema a `$ref` points to in `$defs`.
fn deref<'a>(schema: &Value, defs: &'a Value) -> Option<&'a Value> {
    let name = schema.get("$ref")?.as_str()?.strip_prefix("#/$defs/")?;
    defs.get(name)
}

/// A property's type in words, and the nested table it opens (its schema, and whether it is a
/// map of such tables keyed by id).
fn type_of(prop: &Value, defs: &Value) -> (String, Option<(Value, bool)>) {
    if let Some(def) = deref(prop, defs) {
        return ("table".into(), Some((def.clone(), false)));
    }
    // Option<Struct>: anyOf [ {$ref}, {type: null} ].
    if let Some(any) = prop.get("anyOf").and_then(Value::as_array) {
        if let Some(def) = any.iter().find_map(|s| deref(s, defs)) {
            return ("table".into(), Some((def.clone(), false)));
        }
    }
    if let Some(def) = prop
        .get("additionalProperties")
        .and_then(|a| deref(a, defs))
    {
        return ("table of tables, by id".into(), Some((def.clone(), true)));
    }
    (scalar_type(prop), None)
}

fn scalar_type(prop: &Value) -> String {
    let types: Vec<&str> = match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let main = types
        .iter()
        .find(|t| **t != "null")
        .copied()
        .unwrap_or("any");
    let format = prop.get("format").and_then(Value::as_str);
    match (main, format) {
        ("string", Some("path")) => "path".into(),
        ("integer", _) if prop.get("minimum").and_then(Value::as_f64) == Some(0.0) => {
            "integer ≥ 0".into()
        }
        ("array", _) => format!(
            "array of {}",
            prop.get("items")
                .map(scalar_type)
                .unwrap_or_else(|| "any".into())
        ),
        (t, _) => t.into(),
    }
}

/// A schema's doc text on one line, intra-doc link brackets removed.
fn meaning(schema: &Value) -> String {
    let part = |k: &str| schema.get(k).and_then(Value::as_str).unwrap_or("").trim();
    let text = [part("title"), part("description")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("[`", "`")
        .replace("`]", "`")
}

/// A default value as it would be written in TOML, with a size in MiB/GiB for byte counts.
fn show_default(name: &str, v: &Value) -> String {
    let literal = match v {
        Value::Object(m) if m.is_empty() => "{}".to_string(),
        Value::Array(a) if a.is_empty() => "[]".to_string(),
        Value::Object(m) => show_object(m),
        other => other.to_string(),
    };
    let size = match v.as_u64() {
        Some(n) if name.ends_with("_bytes") && n >= 1 << 20 => human_bytes(n),
        _ => String::new(),
    };
    format!("`{literal}`{size}")
}

fn show_object(m: &Map<String, Value>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k} = {v}")).collect();
    format!("{{ {} }}", inner.join(", "))
}

fn human_bytes(n: u64) -> String {
    const GIB: u64 = 1 << 30;
    const MIB: u64 = 1 << 20;
    if n.is_multiple_of(GIB) {
        format!(" ({} GiB)", n / GIB)
    } else if n.is_multiple_of(MIB) {
        format!(" ({} MiB)", n / MIB)
    } else {
        String::new()
    }
}

/// Text made safe for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}
