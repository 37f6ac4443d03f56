//! `docs/config-reference.md` is the output of `pesgw config reference`, generated from the
//! config structs' doc comments: this test fails when a key, default or doc comment changed and
//! the file was not regenerated. The packaged example config must parse, too.

use std::path::Path;
use std::process::Command;

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

fn pesgw(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pesgw"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn config_reference_is_current() {
    let generated = pesgw(&["config", "reference"]);
    let path = repo_file("docs/config-reference.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "{} is stale: regenerate it with\n  cargo run -p pes-gateway --bin pesgw -- config reference > docs/config-reference.md",
        path.display()
    );
}

#[test]
fn reference_names_every_key_with_type_default_and_meaning() {
    let text = pesgw(&["config", "reference"]);
    for (key, ty, default) in [
        ("region", "string", "required"),
        ("data_dir", "path", "required"),
        ("k", "integer", "`5`"),
        ("max_body_bytes", "integer", "`268435456` (256 MiB)"),
        ("max_quarantined_share", "number", "`0.5`"),
        ("deadline_ms", "integer", "`2000`"),
        ("witness_key", "path", "unset"),
        ("pushers", "array of string", "`[]`"),
    ] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| `{key}` |")))
            .unwrap_or_else(|| panic!("no row for {key}:\n{text}"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert!(cells[1].starts_with(ty), "{row}");
        assert_eq!(cells[2], default, "{row}");
        assert!(cells[3].len() > 10, "no meaning: {row}");
    }
    for table in [
        "`[keys]`",
        "`[sources.<id>]`",
        "`[limits]`",
        "`[store]`",
        "`[audit]`",
        "`[federation]`",
    ] {
        assert!(text.contains(&format!("## {table}")), "{table}:\n{text}");
    }
    // The JSON Schema it is built from is valid JSON and names the same keys.
    let schema: serde_json::Value = serde_json::from_str(&pesgw(&["config", "schema"])).unwrap();
    assert!(schema["properties"]["federation"].is_object());
}

#[test]
fn packaged_example_config_parses() {
    let text = std::fs::read_to_string(repo_file("packaging/gateway.toml.example")).unwrap();
    let cfg: pes_gateway::config::GatewayConfig = toml::from_str(&text).unwrap();
    assert_eq!(cfg.data_dir, Path::new("/var/lib/pesgw"));
    cfg.listen_addr().unwrap();
}
