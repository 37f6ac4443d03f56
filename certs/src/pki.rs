//! Creating the CA, issuing gateway certificates and keys, revoking, and signing the CRL.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevocationReason, RevokedCertParams, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::KeyPair as _;
use time::{Duration, OffsetDateTime};

use crate::files::{write_public, write_secret};
use crate::index::{CertKind, IssuedCert, PkiIndex, SigningKeyEntry};

/// Errors of the development PKI. All of them are the operator's to fix (bad arguments, missing
/// or unreadable files), except [`CertsError::Generate`], which means a bug or a broken RNG.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertsError {
    /// A region code is not six ASCII digits.
    #[error("region code {0:?} is not six digits (GB/T 2260)")]
    BadRegion(String),
    /// `init` was pointed at a directory that already holds a CA.
    #[error("{0} already holds a CA; refusing to overwrite it")]
    AlreadyExists(PathBuf),
    /// A certificate for this region already exists.
    #[error("region {0} already has certificates")]
    RegionExists(String),
    /// Nothing matched the revocation target.
    #[error("no unrevoked certificate matches {0}")]
    NothingToRevoke(String),
    /// Reading or writing a PKI file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// `index.json` could not be parsed.
    #[error("index.json: {0}")]
    Index(#[from] serde_json::Error),
    /// Key or certificate generation failed.
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    /// A certificate could not be parsed to compute its SPKI pin.
    #[error("certificate does not parse: {0}")]
    BadCertificate(String),
    /// Ed25519 key generation failed (system RNG unavailable).
    #[error("Ed25519 key generation failed")]
    SigningKey,
}

/// Validity periods used when issuing.
#[derive(Debug, Clone, Copy)]
pub struct InitOptions {
    /// How long the CA and gateway certificates are valid.
    pub cert_validity: Duration,
    /// How long a CRL is valid; gateways refuse an expired CRL, so re-sign before then.
    pub crl_validity: Duration,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            cert_validity: Duration::days(365),
            crl_validity: Duration::days(30),
        }
    }
}

/// What to revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeTarget {
    /// One certificate, by serial number (hex).
    Serial(String),
    /// A gateway's certificate of one kind, or both kinds when `kind` is `None`.
    Region {
        /// Region code.
        region: String,
        /// Server or client; `None` revokes both.
        kind: Option<CertKind>,
    },
}

impl std::fmt::Display for RevokeTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevokeTarget::Serial(s) => write!(f, "serial {s}"),
            RevokeTarget::Region { region, kind } => match kind {
                Some(k) => write!(f, "{} certificate of region {region}", k.stem()),
                None => write!(f, "certificates of region {region}"),
            },
        }
    }
}

/// Paths of one gateway's files inside a PKI directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayPaths {
    /// Federation CA certificate (PEM).
    pub ca_cert: PathBuf,
    /// Current CRL (PEM).
    pub crl: PathBuf,
    /// Server certificate (PEM).
    pub server_cert: PathBuf,
    /// Server private key (PKCS#8 PEM, mode 0600).
    pub server_key: PathBuf,
    /// Client certificate (PEM).
    pub client_cert: PathBuf,
    /// Client private key (PKCS#8 PEM, mode 0600).
    pub client_key: PathBuf,
    /// Ed25519 request-signing key (PKCS#8 v2 PEM, mode 0600).
    pub signing_key: PathBuf,
    /// `<kid> <base64 raw public key>` of the signing key.
    pub signing_pub: PathBuf,
}

impl GatewayPaths {
    /// Paths of `region`'s files under `dir`.
    pub fn new(dir: &Path, region: &str) -> Self {
        let g = dir.join(region);
        GatewayPaths {
            ca_cert: dir.join("ca.pem"),
            crl: dir.join("crl.pem"),
            server_cert: g.join("server.pem"),
            server_key: g.join("server.key"),
            client_cert: g.join("client.pem"),
            client_key: g.join("client.key"),
            signing_key: g.join("signing.key"),
            signing_pub: g.join("signing.pub"),
        }
    }
}

/// The SAN URI that identifies a gateway: `pes://region/<code>`.
pub fn region_uri(region: &str) -> String {
    format!("pes://region/{region}")
}

/// `sha256/<base64>` of a certificate's SubjectPublicKeyInfo (DER), the pin format of the trust list.
pub fn spki_pin(cert_der: &[u8]) -> Result<String, CertsError> {
    use base64::Engine as _;
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| CertsError::BadCertificate(e.to_string()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.tbs_certificate.subject_pki.raw);
    Ok(format!(
        "sha256/{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    ))
}

fn check_region(region: &str) -> Result<(), CertsError> {
    if region.len() == 6 && region.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CertsError::BadRegion(region.to_owned()))
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CertsError + '_ {
    move |source| CertsError::Io {
        path: path.to_owned(),
        source,
    }
}

fn read_string(path: &Path) -> Result<String, CertsError> {
    std::fs::read_to_string(path).map_err(io_err(path))
}

/// Reads `index.json` of a PKI directory.
pub fn load_index(dir: &Path) -> Result<PkiIndex, CertsError> {
    let path = dir.join("index.json");
    Ok(serde_json::from_str(&read_string(&path)?)?)
}

fn save_index(dir: &Path, index: &PkiIndex) -> Result<(), CertsError> {
    let path = dir.join("index.json");
    let json = serde_json::to_vec_pretty(index)?;
    write_public(&path, &json).map_err(io_err(&path))
}

fn random_serial() -> Result<SerialNumber, CertsError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertsError::SigningKey)?;
    // Positive and without a leading zero octet, so DER keeps all 16 bytes.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn ca_params(opts: &InitOptions, now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "PES Federation (development)");
    dn.push(DnType::CommonName, "PES Federation Development CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + opts.cert_validity;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params
}

/// Creates a new PKI in `dir` (created if missing) with one server and one client certificate
/// and one signing key per region, and an empty CRL. Refuses to overwrite an existing CA.
pub fn init(dir: &Path, regions: &[String], opts: &InitOptions) -> Result<PkiIndex, CertsError> {
    for r in regions {
        check_region(r)?;
    }
    let ca_key_path = dir.join("ca.key");
    if ca_key_path.exists() {
        return Err(CertsError::AlreadyExists(dir.to_owned()));
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let now = OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = ca_params(opts, now);
    params.serial_number = Some(random_serial()?);
    let ca_cert = params.self_signed(&ca_key)?;
    write_secret(&ca_key_path, ca_key.serialize_pem().as_bytes()).map_err(io_err(&ca_key_path))?;
    let ca_pem_path = dir.join("ca.pem");
    write_public(&ca_pem_path, ca_cert.pem().as_bytes()).map_err(io_err(&ca_pem_path))?;
    let mut index = PkiIndex::default();
    save_index(dir, &index)?;
    for r in regions {
        issue_into(dir, &mut index, r, opts, now)?;
    }
    sign_crl(dir, &mut index, now, opts.crl_validity)?;
    Ok(index)
}

/// Issues server and client certificates and a signing key for one more region.
pub fn issue_gateway(
    dir: &Path,
    region: &str,
    opts: &InitOptions,
) -> Result<IssuedPair, CertsError> {
    check_region(region)?;
    let mut index = load_index(dir)?;
    if index.for_region(region).next().is_some() {
        return Err(CertsError::RegionExists(region.to_owned()));
    }
    let pair = issue_into(dir, &mut index, region, opts, OffsetDateTime::now_utc())?;
    Ok(pair)
}

/// The two certificates issued for a gateway.
pub type IssuedPair = [IssuedCert; 2];

fn load_issuer(dir: &Path) -> Result<Issuer<'static, KeyPair>, CertsError> {
    let key = KeyPair::from_pem(&read_string(&dir.join("ca.key"))?)?;
    Ok(Issuer::from_ca_cert_pem(
        &read_string(&dir.join("ca.pem"))?,
        key,
    )?)
}

fn issue_into(
    dir: &Path,
    index: &mut PkiIndex,
    region: &str,
    opts: &InitOptions,
    now: OffsetDateTime,
) -> Result<IssuedPair, CertsError> {
    let issuer = load_issuer(dir)?;
    let paths = GatewayPaths::new(dir, region);
    let gw_dir = dir.join(region);
    std::fs::create_dir_all(&gw_dir).map_err(io_err(&gw_dir))?;
    let mut issued = Vec::with_capacity(2);
    for kind in [CertKind::Server, CertKind::Client] {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "PES Federation (development)");
        // The CN is informational only: peers are identified by the SAN URI.
        dn.push(
            DnType::CommonName,
            format!("pes gateway {region} {}", kind.stem()),
        );
        params.distinguished_name = dn;
        params.subject_alt_names = vec![
            SanType::URI(region_uri(region).try_into()?),
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![match kind {
            CertKind::Server => ExtendedKeyUsagePurpose::ServerAuth,
            CertKind::Client => ExtendedKeyUsagePurpose::ClientAuth,
        }];
        params.use_authority_key_identifier_extension = true;
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + opts.cert_validity;
        let serial = random_serial()?;
        params.serial_number = Some(serial.clone());
        let cert = params.signed_by(&key, &issuer)?;
        let (cert_path, key_path) = match kind {
            CertKind::Server => (&paths.server_cert, &paths.server_key),
            CertKind::Client => (&paths.client_cert, &paths.client_key),
        };
        write_secret(key_path, key.serialize_pem().as_bytes()).map_err(io_err(key_path))?;
        write_public(cert_path, cert.pem().as_bytes()).map_err(io_err(cert_path))?;
        issued.push(IssuedCert {
            serial: hex::encode(serial.to_bytes()),
            region: region.to_owned(),
            kind,
            spki_pin: spki_pin(cert.der())?,
            revoked_at: None,
        });
    }
    index.signing_keys.push(write_signing_key(&paths, region)?);
    index.certs.extend(issued.iter().cloned());
    save_index(dir, index)?;
    let [server, client]: IssuedPair = issued
        .try_into()
        .map_err(|_| CertsError::BadCertificate("issued pair".into()))?;
    Ok([server, client])
}

fn write_signing_key(paths: &GatewayPaths, region: &str) -> Result<SigningKeyEntry, CertsError> {
    use base64::Engine as _;
    let rng = SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| CertsError::SigningKey)?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| CertsError::SigningKey)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let public = pair.public_key().as_ref();
    let digest = ring::digest::digest(&ring::digest::SHA256, public);
    let kid = format!("{region}-{}", hex::encode(&digest.as_ref()[..4]));
    let pem = pem_wrap("PRIVATE KEY", pkcs8.as_ref());
    write_secret(&paths.signing_key, pem.as_bytes()).map_err(io_err(&paths.signing_key))?;
    let public_b64 = b64.encode(public);
    write_public(
        &paths.signing_pub,
        format!("{kid} {public_b64}\n").as_bytes(),
    )
    .map_err(io_err(&paths.signing_pub))?;
    Ok(SigningKeyEntry {
        region: region.to_owned(),
        kid,
        public_key: public_b64,
    })
}

fn pem_wrap(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Marks matching certificates revoked and writes a new CRL (valid for `crl_validity`).
/// Returns the certificates newly revoked.
pub fn revoke(
    dir: &Path,
    target: &RevokeTarget,
    crl_validity: Duration,
) -> Result<Vec<IssuedCert>, CertsError> {
    let mut index = load_index(dir)?;
    let now = OffsetDateTime::now_utc();
    let stamp = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| CertsError::BadCertificate(e.to_string()))?;
    let mut revoked = Vec::new();
    for cert in index.certs.iter_mut().filter(|c| c.revoked_at.is_none()) {
        let hit = match target {
            RevokeTarget::Serial(s) => cert.serial.eq_ignore_ascii_case(s),
            RevokeTarget::Region { region, kind } => {
                &cert.region == region && kind.is_none_or(|k| k == cert.kind)
            }
        };
        if hit {
            cert.revoked_at = Some(stamp.clone());
            revoked.push(cert.clone());
        }
    }
    if revoked.is_empty() {
        return Err(CertsError::NothingToRevoke(target.to_string()));
    }
    sign_crl(dir, &mut index, now, crl_validity)?;
    Ok(revoked)
}

/// Re-signs the CRL with `this_update = now` and `next_update = now + validity` (a past `now`
/// makes an expired CRL, which tests use to check that gateways refuse it).
pub fn resign_crl(dir: &Path, now: OffsetDateTime, validity: Duration) -> Result<(), CertsError> {
    let mut index = load_index(dir)?;
    sign_crl(dir, &mut index, now, validity)
}

fn sign_crl(
    dir: &Path,
    index: &mut PkiIndex,
    now: OffsetDateTime,
    validity: Duration,
) -> Result<(), CertsError> {
    let issuer = load_issuer(dir)?;
    let mut revoked_certs = Vec::new();
    for cert in index.certs.iter().filter(|c| c.revoked_at.is_some()) {
        let serial = hex::decode(&cert.serial)
            .map_err(|e| CertsError::BadCertificate(format!("serial {}: {e}", cert.serial)))?;
        let revoked_at = cert.revoked_at.as_deref().unwrap_or_default();
        let revocation_time =
            OffsetDateTime::parse(revoked_at, &time::format_description::well_known::Rfc3339)
                .unwrap_or(now);
        revoked_certs.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&serial),
            revocation_time,
            reason_code: Some(RevocationReason::Unspecified),
            invalidity_date: None,
        });
    }
    index.crl_number += 1;
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + validity,
        crl_number: SerialNumber::from(index.crl_number),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer)?;
    let path = dir.join("crl.pem");
    write_public(&path, crl.pem()?.as_bytes()).map_err(io_err(&path))?;
    save_index(dir, index)
}
