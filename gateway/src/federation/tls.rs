//! Mutual TLS between gateways: rustls 0.23, ring provider only, TLS 1.3 only, client
//! certificates required and checked against the federation CA and its CRL (expiry enforced).
//!
//! A peer is identified by the `URI:pes://region/<code>` SAN of its leaf certificate, never by
//! its CN, and must be a trust-list member whose SPKI pins include the certificate's key.
//! [`VerifiedPeer`] is the proof that this check passed.

use std::any::Any;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use x509_parser::extensions::GeneralName;

use super::trust::{is_region_code, TrustList};

/// TLS set-up errors: the operator's to fix (missing or bad files, bad CA).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or holds nothing of the expected kind.
    #[error("{path}: {reason}")]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the configuration (bad key, bad CA, bad CRL).
    #[error("TLS configuration: {0}")]
    Config(String),
    /// The HTTP client could not be built.
    #[error("HTTP client: {0}")]
    Client(String),
}

/// Why a peer certificate does not identify a member. The peer's fault (or a stale trust list).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// No client certificate reached the application (plain connection or no mTLS).
    #[error("no client certificate presented")]
    NoCertificate,
    /// The certificate does not parse.
    #[error("peer certificate does not parse")]
    Unparseable,
    /// The certificate has no `pes://region/<code>` SAN URI, or more than one.
    #[error("peer certificate has no single pes://region/<code> SAN")]
    NoRegionSan,
    /// The SAN names a region that is not a trust-list member.
    #[error("region {0} is not a federation member")]
    NotMember(String),
    /// The certificate's key is not pinned for the member.
    #[error("certificate key of region {0} is not pinned in the trust list")]
    PinMismatch(String),
}

/// The only crypto provider of the federation: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn pem_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads all certificates of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))?;
    if certs.is_empty() {
        return Err(pem_err(path, "no certificate"));
    }
    Ok(certs)
}

/// Reads the private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_err(path, e))
}

/// Reads all CRLs of a PEM file.
pub fn load_crls(path: &Path) -> Result<Vec<CertificateRevocationListDer<'static>>, TlsError> {
    CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, e))
}

/// The files one gateway needs for federation TLS (see `pes_certs::GatewayPaths`).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Federation CA certificate(s).
    pub ca: std::path::PathBuf,
    /// CRL(s) of the federation CA.
    pub crl: std::path::PathBuf,
    /// This gateway's certificate chain (server or client, per use).
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
}

fn roots(ca: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in ca {
        store
            .add(cert.clone())
            .map_err(|e| TlsError::Config(format!("federation CA: {e}")))?;
    }
    Ok(Arc::new(store))
}

fn client_verifier(
    ca: &[CertificateDer<'static>],
    crls: Vec<CertificateRevocationListDer<'static>>,
) -> Result<Arc<dyn ClientCertVerifier>, TlsError> {
    WebPkiClientVerifier::builder_with_provider(roots(ca)?, provider())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        // Without this an expired CRL would still be accepted (rustls default).
        .enforce_revocation_expiration()
        .build()
        .map_err(|e| TlsError::Config(format!("client verifier: {e}")))
}

/// A client-certificate verifier whose CA and CRL can be replaced while the server runs, so a
/// new CRL takes effect without rebinding the listener.
#[derive(Debug)]
pub struct ReloadableClientVerifier {
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
    // Root hints are fixed at start (they only steer which cert the client picks).
    hints: Vec<DistinguishedName>,
}

impl ReloadableClientVerifier {
    /// Builds the verifier from the federation CA and CRLs.
    pub fn new(
        ca: &[CertificateDer<'static>],
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Arc<Self>, TlsError> {
        let inner = client_verifier(ca, crls)?;
        let hints = inner.root_hint_subjects().to_vec();
        Ok(Arc::new(ReloadableClientVerifier {
            inner: RwLock::new(inner),
            hints,
        }))
    }

    /// Replaces the CA and CRLs; on error the old ones stay in force.
    pub fn reload(
        &self,
        ca: &[CertificateDer<'static>],
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<(), TlsError> {
        let fresh = client_verifier(ca, crls)?;
        let mut guard = self
            .inner
            .write()
            .map_err(|_| TlsError::Config("client verifier lock poisoned".into()))?;
        *guard = fresh;
        Ok(())
    }

    fn current(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        self.inner
            .read()
            .map(|g| Arc::clone(&g))
            .map_err(|_| rustls::Error::General("client verifier lock poisoned".into()))
    }
}

impl ClientCertVerifier for ReloadableClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Always on: a gateway never accepts a federation call without a client certificate.
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current()?
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Server-side TLS: TLS 1.3 only, ring, client certificate mandatory (federation CA + CRL).
/// Returns the config and the verifier handle used to reload CA/CRL later.
pub fn server_config(
    files: &TlsFiles,
) -> Result<(ServerConfig, Arc<ReloadableClientVerifier>), TlsError> {
    let ca = load_certs(&files.ca)?;
    let crls = load_crls(&files.crl)?;
    let verifier = ReloadableClientVerifier::new(&ca, crls)?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier.clone())
        .with_single_cert(load_certs(&files.cert)?, load_key(&files.key)?)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok((config, verifier))
}

/// What a client expects of the server it dials: the member's region and SPKI pins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedPeer {
    /// Region code the server's SAN must name.
    pub region: String,
    /// Accepted `sha256/<base64>` SPKI pins.
    pub spki_pins: Vec<String>,
}

/// Checks the server chain with webpki (federation CA, CRL), then that its leaf names the
/// expected member and carries a pinned key.
#[derive(Debug)]
struct PinnedServerVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expected: ExpectedPeer,
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        let identity = PeerIdentity::from_leaf(end_entity.as_ref())
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        if identity.region != self.expected.region {
            return Err(rustls::Error::General(format!(
                "server is region {}, expected {}",
                identity.region, self.expected.region
            )));
        }
        if !self.expected.spki_pins.contains(&identity.spki_pin) {
            return Err(rustls::Error::General(
                PeerError::PinMismatch(identity.region).to_string(),
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Client-side TLS for calls to one peer: TLS 1.3 only, ring, only the federation CA as root
/// (no built-in or platform roots), CRL enforced, this gateway's client certificate, and the
/// server pinned to `expected`.
pub fn client_config(files: &TlsFiles, expected: ExpectedPeer) -> Result<ClientConfig, TlsError> {
    let ca = load_certs(&files.ca)?;
    let crls = load_crls(&files.crl)?;
    let webpki = WebPkiServerVerifier::builder_with_provider(roots(&ca)?, provider())
        .with_crls(crls)
        .only_check_end_entity_revocation()
        .enforce_revocation_expiration()
        .build()
        .map_err(|e| TlsError::Config(format!("server verifier: {e}")))?;
    let verifier = Arc::new(PinnedServerVerifier {
        inner: webpki,
        expected,
    });
    ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .dangerous() // not dangerous: the custom verifier runs full webpki checks first
        .with_custom_certificate_verifier(verifier)
        .with_client_auth_cert(load_certs(&files.cert)?, load_key(&files.key)?)
        .map_err(|e| TlsError::Config(e.to_string()))
}

/// Timeouts of outbound federation calls. Every call is bounded.
#[derive(Debug, Clone, Copy)]
pub struct CallTimeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// Whole request, first byte to last.
    pub request: Duration,
}

impl Default for CallTimeouts {
    fn default() -> Self {
        CallTimeouts {
            connect: Duration::from_millis(1000),
            request: Duration::from_secs(2),
        }
    }
}

/// A reqwest 0.12 client for one peer using `config` (from [`client_config`]), HTTPS only, no
/// proxy, bounded by `timeouts`.
pub fn http_client(
    config: ClientConfig,
    timeouts: CallTimeouts,
) -> Result<reqwest::Client, TlsError> {
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .https_only(true)
        .no_proxy()
        .connect_timeout(timeouts.connect)
        .timeout(timeouts.request)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| TlsError::Client(e.to_string()))
}

/// The leaf certificate the peer presented, as stored in the connection's extensions by
/// [`on_connect`].
#[derive(Debug, Clone)]
pub struct PeerCertificate(pub CertificateDer<'static>);

/// The identity read from the connection's leaf certificate once, when the connection was
/// accepted (by [`on_connect`]), so requests on a kept-alive connection do not parse the
/// certificate again. Still checked against the trust list per request
/// ([`VerifiedPeer::check_identity`]), so a trust-list reload applies to open connections.
#[derive(Debug, Clone)]
pub struct ConnectionIdentity(pub Result<PeerIdentity, PeerError>);

impl ConnectionIdentity {
    /// The identity of the peer of `req`'s connection: the one parsed at accept time, else
    /// parsed from the stored certificate.
    pub fn of(req: &actix_web::HttpRequest) -> Result<PeerIdentity, PeerError> {
        if let Some(id) = req.conn_data::<ConnectionIdentity>() {
            return id.0.clone();
        }
        let cert = req
            .conn_data::<PeerCertificate>()
            .ok_or(PeerError::NoCertificate)?;
        PeerIdentity::from_leaf(cert.0.as_ref())
    }
}

/// actix-web glue: register with `HttpServer::on_connect(federation::tls::on_connect)` *before*
/// `bind_rustls_0_23`. Stores the peer's leaf certificate (`peer_certificates()[0]`, not the
/// last) in the connection data, where handlers read it with `req.conn_data::<PeerCertificate>()`,
/// and the identity parsed from it ([`ConnectionIdentity`]).
pub fn on_connect(conn: &dyn Any, ext: &mut actix_web::dev::Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(stream) = conn.downcast_ref::<Tls>() {
        let (_, session) = stream.get_ref();
        if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
            ext.insert(ConnectionIdentity(PeerIdentity::from_leaf(leaf.as_ref())));
            ext.insert(PeerCertificate(leaf.clone().into_owned()));
        }
    }
}

/// Identity claimed by a certificate: region from its SAN URI and its SPKI pin. Not yet checked
/// against the trust list (see [`VerifiedPeer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    /// Region code from `URI:pes://region/<code>`.
    pub region: String,
    /// `sha256/<base64>` of the certificate's SubjectPublicKeyInfo.
    pub spki_pin: String,
}

impl PeerIdentity {
    /// Reads the identity from a leaf certificate (DER). Exactly one `pes://region/` SAN URI
    /// must be present; the CN is ignored.
    pub fn from_leaf(der: &[u8]) -> Result<Self, PeerError> {
        let (_, cert) =
            x509_parser::parse_x509_certificate(der).map_err(|_| PeerError::Unparseable)?;
        let san = cert
            .subject_alternative_name()
            .map_err(|_| PeerError::Unparseable)?
            .ok_or(PeerError::NoRegionSan)?;
        let mut regions = san.value.general_names.iter().filter_map(|n| match n {
            GeneralName::URI(uri) => uri.strip_prefix("pes://region/"),
            _ => None,
        });
        let region = match (regions.next(), regions.next()) {
            (Some(r), None) if is_region_code(r) => r.to_owned(),
            _ => return Err(PeerError::NoRegionSan),
        };
        let spki_pin = pes_certs::spki_pin(der).map_err(|_| PeerError::Unparseable)?;
        Ok(PeerIdentity { region, spki_pin })
    }
}

/// Proof that the mTLS peer is a trust-list member whose pinned key it holds. Only
/// [`VerifiedPeer::check`] builds one, so code taking a `VerifiedPeer` cannot skip the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPeer {
    region: String,
    trust_version: u64,
}

impl VerifiedPeer {
    /// Checks the leaf certificate the TLS layer already validated (chain, CRL) against the
    /// trust list: SAN region must be a member and the certificate key must be pinned.
    pub fn check(leaf: &PeerCertificate, trust: &TrustList) -> Result<Self, PeerError> {
        Self::check_identity(PeerIdentity::from_leaf(leaf.0.as_ref())?, trust)
    }

    /// [`VerifiedPeer::check`] for an identity already read from the leaf certificate the TLS
    /// layer validated (see [`ConnectionIdentity`]).
    pub fn check_identity(id: PeerIdentity, trust: &TrustList) -> Result<Self, PeerError> {
        let member = trust
            .member(&id.region)
            .ok_or_else(|| PeerError::NotMember(id.region.clone()))?;
        if !member.spki_pins.contains(&id.spki_pin) {
            return Err(PeerError::PinMismatch(id.region));
        }
        Ok(VerifiedPeer {
            region: id.region,
            trust_version: trust.version,
        })
    }

    /// The member's region code.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Version of the trust list the check used.
    pub fn trust_version(&self) -> u64 {
        self.trust_version
    }
}
