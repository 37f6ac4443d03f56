//! `pesgw audit`: offline verification of a gateway's audit log and of single receipts, and
//! key generation for logs and witnesses.
//!
//! Exit codes: 0 verified; 1 verification failed (the message names the entry); 3 fork (both
//! signed checkpoints are printed as evidence); 2 usage error (clap); other errors 1 with
//! `error:` on stderr.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use indicatif::{ProgressBar, ProgressStyle};
use pes_gateway::audit::api::InclusionProofBody;
use pes_gateway::audit::merkle::Hash;
use pes_gateway::audit::publish::write_atomic;
use pes_gateway::audit::receipt;
use pes_gateway::audit::verify::{self, DirSource, EntryBatch, LogSource, Policy, VerifyError};
use pes_gateway::signed_note::{KeyType, SigningKey, VerifierKey};

/// Arguments of `pesgw audit`.
#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Verify a whole log: checkpoint signature and cosignatures, every entry rehashed into the
    /// root, and consistency with the checkpoint saved by the previous run.
    Verify(VerifyArgs),
    /// Work with single-entry receipts (C2SP tlog-proof).
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// Generate a log signing key (or a witness cosigning key) and print its verifier key.
    Keygen(KeygenArgs),
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["url", "dir"])))]
struct VerifyArgs {
    /// Base URL of the gateway (e.g. http://127.0.0.1:8443).
    #[arg(long)]
    url: Option<String>,
    /// Log directory (read directly; the gateway should not be writing it).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The log's verifier key (`name+keyid+key`), or a file holding it.
    #[arg(long)]
    key: String,
    /// File with the checkpoint verified last time; checked for consistency, then updated.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Trusted witness key (repeatable).
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Valid witness cosignatures required.
    #[arg(long, default_value_t = 0)]
    min_cosignatures: usize,
    /// Bearer token for the auditor role (URL mode). `PESGW_TOKEN` is still read when
    /// `PES_TOKEN` is not set, with a warning; it goes away in the next release.
    #[arg(long, env = "PES_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

/// The token variable this command read before `PES_TOKEN`, the name every other command uses.
const DEPRECATED_TOKEN_ENV: &str = "PESGW_TOKEN";

/// `--token`, else `PES_TOKEN` (both through clap), else the deprecated `PESGW_TOKEN`, with a
/// warning on stderr.
fn token_or_deprecated_env(token: Option<String>) -> Option<String> {
    token.or_else(|| {
        let t = std::env::var(DEPRECATED_TOKEN_ENV)
            .ok()
            .filter(|t| !t.is_empty())?;
        eprintln!(
            "warning: {DEPRECATED_TOKEN_ENV} is deprecated and will stop working in the next \
             release; set PES_TOKEN instead"
        );
        Some(t)
    })
}

#[derive(Debug, clap::Subcommand)]
enum ReceiptCommand {
    /// Verify a receipt file: log signature, cosignatures and inclusion of its entry.
    Verify(ReceiptVerifyArgs),
}

#[derive(Debug, clap::Args)]
struct ReceiptVerifyArgs {
    /// The receipt (`.tlog-proof`) file.
    file: PathBuf,
    /// The log's verifier key, or a file holding it.
    #[arg(long)]
    key: String,
    /// Entry bytes to check instead of the one carried in the receipt's extra line.
    #[arg(long)]
    entry: Option<PathBuf>,
    /// Trusted witness key (repeatable).
    #[arg(long = "witness-key")]
    witness_keys: Vec<String>,
    /// Valid witness cosignatures required.
    #[arg(long, default_value_t = 0)]
    min_cosignatures: usize,
}

#[derive(Debug, clap::Args)]
struct KeygenArgs {
    /// Key name: the log origin (e.g. `pes.example/440000`) or the witness name.
    #[arg(long)]
    name: String,
    /// Make a witness cosigning key (type 0x04) instead of a log key.
    #[arg(long)]
    witness: bool,
    /// Where to write the private key (mode 0600); its verifier key goes beside it with the
    /// extension `.pub`.
    #[arg(long)]
    out: PathBuf,
}

/// Runs `pesgw audit`.
pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Verify(a) => verify_cmd(a),
        AuditCommand::Receipt {
            command: ReceiptCommand::Verify(a),
        } => receipt_cmd(a),
        AuditCommand::Keygen(a) => keygen_cmd(a),
    }
}

fn parse_key(arg: &str) -> anyhow::Result<VerifierKey> {
    if let Ok(k) = VerifierKey::parse(arg) {
        return Ok(k);
    }
    let text = std::fs::read_to_string(arg)
        .with_context(|| format!("`{arg}` is neither a verifier key nor a readable file"))?;
    VerifierKey::parse(&text).with_context(|| format!("{arg} does not hold a verifier key"))
}

fn verify_cmd(a: VerifyArgs) -> anyhow::Result<ExitCode> {
    let policy = Policy {
        log_key: parse_key(&a.key)?,
        witness_keys: a
            .witness_keys
            .iter()
            .map(|k| parse_key(k))
            .collect::<anyhow::Result<_>>()?,
        min_cosignatures: a.min_cosignatures,
    };
    let saved = match &a.state {
        Some(p) if p.exists() => {
            Some(std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?)
        }
        _ => None,
    };
    let mut source: Box<dyn LogSource + Send> = match (&a.url, &a.dir) {
        (Some(url), _) => Box::new(UrlSource::new(
            url,
            token_or_deprecated_env(a.token.clone()),
        )?),
        (None, Some(dir)) => {
            Box::new(DirSource::open(dir).with_context(|| format!("opening {}", dir.display()))?)
        }
        (None, None) => bail!("give --url or --dir"),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} rehashing entries {bar:40} {pos}/{len} ({per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = verify::verify_log(source.as_mut(), &policy, saved.as_deref(), |done, total| {
        if bar.length() != Some(total) {
            bar.set_length(total);
        }
        bar.set_position(done);
    });
    bar.finish_and_clear();
    match result {
        Ok(report) => {
            let cp = &report.checkpoint.checkpoint;
            println!(
                "OK: log {} size {} root {} ({} entries rehashed, {} valid cosignatures{})",
                cp.origin,
                cp.size,
                B64.encode(cp.root),
                report.entries,
                report.checkpoint.cosignatures.len(),
                report
                    .consistent_with
                    .map(|s| format!(", consistent with saved size {s}"))
                    .unwrap_or_default()
            );
            if let Some(state) = &a.state {
                let dir = state
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let name = state
                    .file_name()
                    .context("state path has no file name")?
                    .to_string_lossy();
                write_atomic(dir, &name, report.checkpoint_text.as_bytes())
                    .with_context(|| format!("writing {}", state.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ VerifyError::Fork { .. }) => {
            println!("{e}");
            Ok(ExitCode::from(3))
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn receipt_cmd(a: ReceiptVerifyArgs) -> anyhow::Result<ExitCode> {
    let key = parse_key(&a.key)?;
    let witnesses: Vec<VerifierKey> = a
        .witness_keys
        .iter()
        .map(|k| parse_key(k))
        .collect::<anyhow::Result<_>>()?;
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("reading {}", a.file.display()))?;
    let result = match &a.entry {
        Some(p) => {
            let entry = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            receipt::verify(&text, &entry, &key, &witnesses, a.min_cosignatures)
        }
        None => receipt::verify_with_extra(&text, &key, &witnesses, a.min_cosignatures),
    };
    match result {
        Ok((r, vc)) => {
            println!(
                "OK: entry {} is in log {} at size {} ({} valid cosignatures)",
                r.index,
                vc.checkpoint.origin,
                vc.checkpoint.size,
                vc.cosignatures.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("FAILED: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn keygen_cmd(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let kind = if a.witness {
        KeyType::Cosignature
    } else {
        KeyType::Ed25519
    };
    let key = SigningKey::generate(&a.name, kind)?;
    {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&a.out)
            .with_context(|| format!("creating {}", a.out.display()))?;
        writeln!(f, "{}", key.to_private_text())?;
        f.sync_all()?;
    }
    // The verifier key beside it (`root.key` gives `root.pub`), for the commands that read one
    // from a file (`--key`, `--root`).
    let pub_path = a.out.with_extension("pub");
    if pub_path != a.out {
        std::fs::write(&pub_path, format!("{}\n", key.verifier()))
            .with_context(|| format!("writing {}", pub_path.display()))?;
    }
    println!("{}", key.verifier());
    Ok(ExitCode::SUCCESS)
}

/// Reads a log from a gateway's audit API.
struct UrlSource {
    base: String,
    token: Option<String>,
    client: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl UrlSource {
    fn new(url: &str, token: Option<String>) -> anyhow::Result<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = reqwest::Client::builder().build()?;
        Ok(Self {
            base: url.trim_end_matches('/').to_owned(),
            token,
            client,
            rt,
        })
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, VerifyError> {
        let url = format!("{}{path}", self.base);
        self.rt.block_on(async {
            let mut req = self.client.get(&url);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| VerifyError::Source(format!("GET {url}: {e}")))?;
            let status = resp.status();
            let body = resp
                .bytes()
                .await
                .map_err(|e| VerifyError::Source(format!("GET {url}: {e}")))?;
            if !status.is_success() {
                return Err(VerifyError::Source(format!(
                    "GET {url}: {status}: {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                )));
            }
            Ok(body.to_vec())
        })
    }

    fn proof_hashes(items: &[String]) -> Result<Vec<Hash>, VerifyError> {
        items
            .iter()
            .map(|s| B64.decode(s).ok().and_then(|v| v.try_into().ok()))
            .collect::<Option<Vec<Hash>>>()
            .ok_or_else(|| VerifyError::Source("proof hash is not base64 SHA-256".into()))
    }
}

impl LogSource for UrlSource {
    fn checkpoint(&mut self) -> Result<String, VerifyError> {
        String::from_utf8(self.get("/v1/audit/checkpoint")?)
            .map_err(|_| VerifyError::Source("checkpoint is not UTF-8".into()))
    }

    fn entries(&mut self, from: u64, to: u64) -> Result<EntryBatch, VerifyError> {
        let body = self.get(&format!("/v1/audit/entries?from={from}&to={to}"))?;
        let mut spans = Vec::new();
        let mut start = 0;
        for (i, b) in body.iter().enumerate() {
            if *b == b'\n' {
                spans.push((start, i));
                start = i + 1;
            }
        }
        Ok(EntryBatch::new(body, spans))
    }

    fn children(&mut self, start: u64, end: u64, size: u64) -> Result<(Hash, Hash), VerifyError> {
        verify::children_from_proofs(start, end, size, |index, size| {
            let body = self.get(&format!(
                "/v1/audit/proof/inclusion?index={index}&size={size}"
            ))?;
            let p: InclusionProofBody = serde_json::from_slice(&body)
                .map_err(|e| VerifyError::Source(format!("inclusion proof: {e}")))?;
            Self::proof_hashes(&p.proof)
        })
    }
}
