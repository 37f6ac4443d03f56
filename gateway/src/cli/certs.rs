//! `pesgw certs`: the development PKI (federation CA, gateway certificates, CRL).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use pes_certs::{CertKind, InitOptions, RevokeTarget};
use pes_gateway::signed_note::{KeyType, SigningKey};

/// The national root key in a PKI directory (signed-note private key text, mode 0600).
pub const ROOT_KEY_FILE: &str = "root.key";
/// Its verifier key (`name+keyid+key`, one line): `[federation] root_key` of every gateway.
pub const ROOT_PUB_FILE: &str = "root.pub";

/// Writes the root key and its verifier key into the PKI directory; never replaces a root key.
fn write_root_key(dir: &Path, root: &SigningKey) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let key_path = dir.join(ROOT_KEY_FILE);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("creating {}", key_path.display()))?;
    writeln!(f, "{}", root.to_private_text())?;
    f.sync_all()?;
    let pub_path = dir.join(ROOT_PUB_FILE);
    std::fs::write(&pub_path, format!("{}\n", root.verifier()))
        .with_context(|| format!("writing {}", pub_path.display()))?;
    Ok(())
}

/// Arguments of `pesgw certs`.
#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    #[command(subcommand)]
    command: CertsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CertsCommand {
    /// Create a federation CA, per-region server/client certificates and signing keys, a CRL,
    /// and the national root key that signs the trust list (`root.key`, and its verifier key
    /// in `root.pub`, the value of every gateway's `[federation] root_key`).
    Init {
        /// Region codes, comma separated (e.g. 110000,440000).
        #[arg(long, value_delimiter = ',', required = true)]
        regions: Vec<String>,
        /// Output directory (must not hold a CA yet).
        #[arg(long)]
        out: PathBuf,
        /// Certificate validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
        /// CRL validity in days (gateways refuse an expired CRL).
        #[arg(long, default_value_t = 30)]
        crl_days: i64,
        /// Name of the national root key (it appears in the trust list's signature line).
        #[arg(long, default_value = "pes-federation-root")]
        root_name: String,
    },
    /// Issue certificates and a signing key for one more region.
    Issue {
        /// PKI directory.
        #[arg(long)]
        dir: PathBuf,
        /// Region code.
        #[arg(long)]
        region: String,
        /// Certificate validity in days.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke certificates and re-sign the CRL.
    Revoke {
        /// PKI directory.
        #[arg(long)]
        dir: PathBuf,
        /// Serial number (hex) of the certificate to revoke.
        #[arg(long, conflicts_with = "region", required_unless_present = "region")]
        serial: Option<String>,
        /// Revoke this region's certificates.
        #[arg(long)]
        region: Option<String>,
        /// Only the server or only the client certificate of `--region`.
        #[arg(long, value_enum, requires = "region")]
        kind: Option<KindArg>,
        /// Validity of the new CRL in days.
        #[arg(long, default_value_t = 30)]
        crl_days: i64,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Server,
    Client,
}

/// Runs `pesgw certs`.
pub fn run(args: CertsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CertsCommand::Init {
            regions,
            out,
            days,
            crl_days,
            root_name,
        } => {
            let opts = InitOptions {
                cert_validity: time::Duration::days(days),
                crl_validity: time::Duration::days(crl_days),
            };
            // Checked before the CA is made, so a bad name leaves no half-made PKI.
            let root = SigningKey::generate(&root_name, KeyType::Ed25519)
                .with_context(|| format!("--root-name `{root_name}`"))?;
            let index = pes_certs::init(&out, &regions, &opts)
                .with_context(|| format!("creating PKI in {}", out.display()))?;
            write_root_key(&out, &root)?;
            for cert in &index.certs {
                println!(
                    "{} {:<6} serial={} pin={}",
                    cert.region,
                    cert.kind.stem(),
                    cert.serial,
                    cert.spki_pin
                );
            }
            println!("root verifier key {}", root.verifier());
            println!(
                "PKI written to {} (root key: {ROOT_KEY_FILE}, keep offline; verifier key: \
                 {ROOT_PUB_FILE})",
                out.display()
            );
        }
        CertsCommand::Issue { dir, region, days } => {
            let opts = InitOptions {
                cert_validity: time::Duration::days(days),
                ..InitOptions::default()
            };
            for cert in pes_certs::issue_gateway(&dir, &region, &opts)? {
                println!(
                    "{} {:<6} serial={}",
                    cert.region,
                    cert.kind.stem(),
                    cert.serial
                );
            }
        }
        CertsCommand::Revoke {
            dir,
            serial,
            region,
            kind,
            crl_days,
        } => {
            let target = match (serial, region) {
                (Some(s), _) => RevokeTarget::Serial(s),
                (None, Some(region)) => RevokeTarget::Region {
                    region,
                    kind: kind.map(|k| match k {
                        KindArg::Server => CertKind::Server,
                        KindArg::Client => CertKind::Client,
                    }),
                },
                (None, None) => anyhow::bail!("give --serial or --region"),
            };
            let revoked = pes_certs::revoke(&dir, &target, time::Duration::days(crl_days))?;
            for cert in revoked {
                println!(
                    "revoked {} {} serial={}",
                    cert.region,
                    cert.kind.stem(),
                    cert.serial
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
