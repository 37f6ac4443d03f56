//! `pesgw federation`: write, sign and check the federation trust list (`federation.json`), and
//! make the federation's shared linkage key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use pes_gateway::federation::trust::{self, TrustList};
use pes_gateway::signed_note::{SigningKey, VerifierKey};

/// Arguments of `pesgw federation`.
#[derive(Debug, clap::Args)]
pub struct FederationArgs {
    #[command(subcommand)]
    command: FederationCommand,
}

#[derive(Debug, clap::Subcommand)]
enum FederationCommand {
    /// Write an unsigned trust list draft (JSON) from a development PKI.
    Draft {
        /// PKI directory written by `pesgw certs init`.
        #[arg(long)]
        pki: PathBuf,
        /// Members as `CODE=NAME=URL` (repeat), e.g. `440000=Guangdong=https://127.0.0.1:9002`.
        #[arg(long = "member", required = true)]
        members: Vec<String>,
        /// Trust list version (must exceed the version gateways hold).
        #[arg(long)]
        version: u64,
        /// Validity in days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Datasets every member may query.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "person,job_seeker_registration,employer,vacancy,employment_event,training_record,platform_work,service_event"
        )]
        datasets: Vec<String>,
        /// Purposes every member may state.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "statistics,case_management"
        )]
        purposes: Vec<String>,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a draft with the national root key, writing the signed-note `federation.json`.
    Sign {
        /// Root private key file (`PRIVATE+KEY+...`, from `pesgw audit keygen`).
        #[arg(long)]
        key: PathBuf,
        /// Draft trust list (JSON).
        #[arg(long = "in")]
        input: PathBuf,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate the federation's person-linkage key (32 random bytes, mode 0600), which every
    /// member receives (`pesgw init --linkage-key-file`). Never replaces an existing file.
    LinkageKey {
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify a signed trust list against the root verifier key.
    Verify {
        /// Root verifier key (`name+keyid+key`) or a file holding it.
        #[arg(long)]
        root: String,
        /// Signed trust list.
        file: PathBuf,
    },
}

/// Runs `pesgw federation`.
pub fn run(args: FederationArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        FederationCommand::Draft {
            pki,
            members,
            version,
            days,
            datasets,
            purposes,
            out,
        } => {
            let index = pes_certs::load_index(&pki)?;
            let members = members
                .iter()
                .map(|m| {
                    let mut parts = m.splitn(3, '=');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(c), Some(n), Some(u)) => {
                            Ok((c.to_owned(), n.to_owned(), u.to_owned()))
                        }
                        _ => anyhow::bail!("--member {m:?} is not CODE=NAME=URL"),
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let list = trust::draft_from_pki(
                &index,
                &members,
                version,
                chrono::Utc::now(),
                chrono::Duration::days(days),
                &datasets,
                &purposes,
            )?;
            std::fs::write(&out, serde_json::to_string_pretty(&list)? + "\n")
                .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "draft version {version} with {} members written to {}",
                list.members.len(),
                out.display()
            );
        }
        FederationCommand::Sign { key, input, out } => {
            let key_text = std::fs::read_to_string(&key)
                .with_context(|| format!("reading {}", key.display()))?;
            let root = SigningKey::parse(&key_text)?;
            let draft = std::fs::read_to_string(&input)
                .with_context(|| format!("reading {}", input.display()))?;
            let list = TrustList::from_json(&draft)?;
            let signed = trust::sign_trust_list(&list, &root)?;
            std::fs::write(&out, signed).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "signed version {} by {} -> {}",
                list.version,
                root.verifier(),
                out.display()
            );
        }
        FederationCommand::LinkageKey { out } => {
            pes_gateway::keys::write_new_linkage_key(&out)?;
            println!(
                "linkage key written to {}; give it to every member (pesgw init \
                 --linkage-key-file) over a secure channel",
                out.display()
            );
        }
        FederationCommand::Verify { root, file } => {
            let root = match VerifierKey::parse(&root) {
                Ok(k) => k,
                Err(_) => VerifierKey::parse(
                    &std::fs::read_to_string(&root).with_context(|| format!("reading {root}"))?,
                )?,
            };
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let list = trust::verify_trust_list(&text, &root, chrono::Utc::now())?;
            println!(
                "OK: version {} expires {} members {}",
                list.version,
                list.expires_at.to_rfc3339(),
                list.members
                    .iter()
                    .map(|m| m.region.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
