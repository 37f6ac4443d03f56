//! The integrator guide's table of required and optional fields per record type is generated
//! from the JSON Schemas, so it cannot drift from them. Regenerate it with
//! `UPDATE_DOCS=1 cargo test -p pes-schemas --test docs_reference`.

use std::path::{Path, PathBuf};

use serde_json::Value;

const BEGIN: &str =
    "<!-- BEGIN record-fields: generated from schemas/v1 by schemas/tests/docs_reference.rs -->";
const END: &str = "<!-- END record-fields -->";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn schema(name: &str) -> Value {
    let path = repo()
        .join("schemas/v1")
        .join(format!("{name}.schema.json"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn names(v: &[&str]) -> String {
    if v.is_empty() {
        return "—".into();
    }
    v.iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table: the envelope's fields once, then each record type's body fields.
fn table() -> String {
    let envelope = schema("envelope");
    let env_required: Vec<&str> = envelope["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let mut out =
        String::from("| record type | required fields | optional fields |\n|---|---|---|\n");
    out.push_str(&format!(
        "| every record (envelope) | {} | — |\n",
        names(&env_required)
    ));
    for t in pes_schemas::RecordType::ALL {
        let s = schema(t.as_str());
        let required: Vec<&str> = s["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .filter(|n| *n != "record_type")
            .collect();
        let optional: Vec<&str> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .filter(|n| *n != "record_type" && !required.contains(n))
            .collect();
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            t.as_str(),
            names(&required),
            names(&optional)
        ));
    }
    out
}

#[test]
fn integrator_guide_lists_the_fields_of_every_record_type() {
    let path = repo().join("docs/integrator-guide.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc
        .find(BEGIN)
        .expect("the guide has the record-fields marker")
        + BEGIN.len();
    let end = doc[start..]
        .find(END)
        .expect("the guide has the end marker")
        + start;
    let want = format!("\n{}", table());
    if doc[start..end] != want {
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{}{}", &doc[..start], want, &doc[end..]);
            std::fs::write(&path, updated).unwrap();
        } else {
            panic!(
                "docs/integrator-guide.md's field table is out of date; run \
                 UPDATE_DOCS=1 cargo test -p pes-schemas --test docs_reference"
            );
        }
    }
}
