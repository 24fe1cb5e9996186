//! Transport security: a certificate tree that mirrors the division tree.
//!
//! Nodes sync over mutually authenticated TLS 1.3, and who a peer *is* comes
//! from its certificate chain, never from anything it says afterwards. Every
//! certificate names its node with one SAN URI `fundsync://node/CODE` (the CN
//! repeats the code for people reading it); [`node_code_of`] reads it back.
//!
//! # Who holds what
//!
//! | node       | issuing certificate                      | TLS certificate (leaf)          |
//! |------------|------------------------------------------|---------------------------------|
//! | region     | root CA, self-signed, path length 1      | issued by its own root          |
//! | prefecture | intermediate CA from the root, length 0  | issued by the root              |
//! | county     | none                                     | issued by its prefecture's CA   |
//!
//! A county's chain is `county leaf ← prefecture CA ← region root`. Issuing
//! keys and TLS keys are separate because webpki refuses a CA certificate as
//! a TLS end entity, and because it lets an issuing key live offline later.
//! Every key is generated on the node that uses it; the parent only sees a
//! certificate signing request, keeps nothing of it but the public key, and
//! writes the identity, validity, CA flag and key usages itself.
//!
//! # Enrolment, in calls
//!
//! - Region, once: [`root_ca`] → save as the issuer ([`TlsFiles::save_issuer`]);
//!   then its own leaf: [`key_and_csr`] → [`Issuer::issue_leaf`] →
//!   [`TlsFiles::save_node`] with the root as `ca.pem`.
//! - A child joining: [`key_and_csr`] for its TLS key (and, for a
//!   prefecture, again for its issuing key); the CSRs travel to the parent
//!   with the token; the parent answers with [`Issuer::issue_leaf`] (the
//!   chain to save as is), [`Issuer::issue_intermediate`] for a prefecture,
//!   and its `ca.pem`.
//! - Serving and dialling: [`TlsFiles::load_node`] → [`server_config`] /
//!   [`client_config`]; after the handshake, [`peer_node`] names the peer.
//!
//! # Architecture invariants
//!
//! - **A certificate speaks only for its issuer's subtree.** An [`Issuer`]
//!   refuses codes outside its subtree, and both verifiers re-check every
//!   chain: the leaf's code must lie within every CA presented with it and
//!   within the root. A stolen prefecture key cannot mint a certificate for
//!   another prefecture's county.
//! - **Servers are recognised by node code, not host name.** The client says
//!   which node it expects (its parent's code from the configuration) and the
//!   host name it dialled is ignored. Nodes move between addresses and often
//!   sit on 127.0.0.1 or a bare IP; binding certificates to host names would
//!   make every address change a re-enrolment, while the code is what the
//!   sync protocol cares about.
//! - **Revocation is checked during the handshake** (see [`Revoked`]), for
//!   the leaf and every CA presented with it, so revoking a prefecture also
//!   cuts off the counties it certified.
//!
//! Certificates are issued at an injected `now_ms`, so tests can make expired
//! ones; handshakes check validity against the system clock, as any TLS peer
//! would.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use fundsync_protocol::{Level, NodeCode};
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, PublicKeyData, SanType, SerialNumber,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, DistinguishedName, OtherError,
    RootCertStore, ServerConfig, SignatureScheme,
};
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
use zeroize::Zeroizing;

/// What a certificate's SAN URI starts with; the division code follows.
pub const NODE_URI_PREFIX: &str = "fundsync://node/";

/// The longest validity an issuer grants, in days.
pub const VALIDITY_DAYS_MAX: u32 = 10 * 366;

/// Why a key, certificate or TLS configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("not an X.509 certificate: {0}")]
    BadCert(String),
    #[error("not a PEM private key")]
    BadKey,
    #[error("the certificate names no node (no SAN URI {NODE_URI_PREFIX}CODE)")]
    NoIdentity,
    #[error("the certificate names more than one node")]
    ManyIdentities,
    #[error("the certificate names node {0:?}, which is not a 6-digit division code")]
    BadCode(String),
    #[error("certificate signing request refused: {0}")]
    BadCsr(rcgen::Error),
    #[error("cannot generate a key or certificate: {0}")]
    Generate(rcgen::Error),
    #[error("the issuing key does not belong to the issuing certificate")]
    KeyMismatch,
    #[error("the certificate of {0} is not a CA certificate")]
    NotCa(NodeCode),
    #[error("{issuer} may only certify its own subtree, not {child}")]
    OutsideSubtree { issuer: NodeCode, child: NodeCode },
    #[error("only the root may issue CA certificates; {0} issues leaves only")]
    LeavesOnly(NodeCode),
    #[error(
        "a validity of {days} days from {now_ms} ms is out of range, or the issuer has expired"
    )]
    Validity { now_ms: i64, days: u32 },
    #[error("expected to reach node {expected}, but the peer is {actual}")]
    WrongPeer {
        expected: NodeCode,
        actual: NodeCode,
    },
    #[error("the certificate of {0} was revoked")]
    Revoked(NodeCode),
    #[error("{0:?} is not a DNS name or an IP address for a certificate")]
    BadName(String),
    #[error("a server certificate needs at least one name")]
    NoNames,
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("TLS client verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The division code a certificate names in its `fundsync://node/CODE` SAN.
///
/// Exactly one such URI must be present; other SANs are ignored.
pub fn node_code_of(cert_der: &[u8]) -> Result<NodeCode, PkiError> {
    code_in(&parse(cert_der)?)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(PkiError::BadCert("trailing bytes".into())),
        Err(e) => Err(PkiError::BadCert(e.to_string())),
    }
}

fn code_in(cert: &X509Certificate<'_>) -> Result<NodeCode, PkiError> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| PkiError::BadCert(e.to_string()))?;
    let mut codes = san
        .iter()
        .flat_map(|ext| &ext.value.general_names)
        .filter_map(|name| match name {
            GeneralName::URI(uri) => uri.strip_prefix(NODE_URI_PREFIX),
            _ => None,
        });
    let code = codes.next().ok_or(PkiError::NoIdentity)?;
    if codes.next().is_some() {
        return Err(PkiError::ManyIdentities);
    }
    code.parse().map_err(|_| PkiError::BadCode(code.to_owned()))
}

/// Whether a CA for `ca` at `level` may certify `code`: itself or a node below.
fn within(ca: NodeCode, level: Level, code: NodeCode) -> bool {
    ca == code || ca.contains(level, &code)
}

/// A new self-signed root CA for the region: (certificate PEM, key PEM).
pub fn root_ca(
    code: NodeCode,
    name: &str,
    now_ms: i64,
    validity_days: u32,
) -> Result<(String, Zeroizing<String>), PkiError> {
    let (not_before, not_after) = validity(now_ms, validity_days, None)?;
    let mut params = node_params(code, not_before, not_after)?;
    params
        .distinguished_name
        .push(DnType::OrganizationName, name);
    // Room for one intermediate: the prefectures' CAs.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.use_authority_key_identifier_extension = false;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Generate)?;
    let cert = params.self_signed(&key).map_err(PkiError::Generate)?;
    Ok((cert.pem(), Zeroizing::new(key.serialize_pem())))
}

/// A fresh ECDSA P-256 key for `code` and a request to send to the parent:
/// (private key PEM, CSR PEM). The key never leaves the node.
///
/// A prefecture calls this twice when joining: once for its TLS key, once
/// for its issuing key.
pub fn key_and_csr(code: NodeCode) -> Result<(Zeroizing<String>, String), PkiError> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Generate)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, code.as_str());
    let csr = params.serialize_request(&key).map_err(PkiError::Generate)?;
    let csr_pem = csr.pem().map_err(PkiError::Generate)?;
    Ok((Zeroizing::new(key.serialize_pem()), csr_pem))
}

/// The fields every node certificate gets, whoever asks.
fn node_params(
    code: NodeCode,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<CertificateParams, PkiError> {
    let uri = format!("{NODE_URI_PREFIX}{code}");
    let uri = Ia5String::try_from(uri.as_str()).map_err(PkiError::Generate)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, code.as_str());
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.not_before = not_before;
    params.not_after = not_after;
    // Random, so that re-issuing for the same key still gives a new serial.
    let serial: [u8; 16] = rand::random();
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// `days` from `now_ms`, cut short at the issuer's own expiry.
fn validity(
    now_ms: i64,
    days: u32,
    issuer_not_after: Option<OffsetDateTime>,
) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    let bad = || PkiError::Validity { now_ms, days };
    if !(1..=VALIDITY_DAYS_MAX).contains(&days) {
        return Err(bad());
    }
    let from = OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).map_err(|_| bad())?;
    let mut to = from
        .checked_add(time::Duration::days(i64::from(days)))
        .ok_or_else(bad)?;
    if let Some(limit) = issuer_not_after {
        to = to.min(limit);
    }
    if to <= from {
        return Err(bad());
    }
    Ok((from, to))
}

/// A CA certificate and its key: the region's root or a prefecture's
/// intermediate. Issues its children's certificates from their CSRs.
pub struct Issuer {
    code: NodeCode,
    is_root: bool,
    cert_pem: String,
    not_after: OffsetDateTime,
    inner: rcgen::Issuer<'static, KeyPair>,
}

impl fmt::Debug for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issuer")
            .field("code", &self.code)
            .field("is_root", &self.is_root)
            .field("not_after", &self.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Issuer {
    /// Loads a CA certificate and its key, checking that they belong together.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Issuer, PkiError> {
        let der = CertificateDer::from_pem_slice(cert_pem.as_bytes())
            .map_err(|e| PkiError::BadCert(e.to_string()))?;
        let cert = parse(&der)?;
        let code = code_in(&cert)?;
        let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
        if !is_ca {
            return Err(PkiError::NotCa(code));
        }
        let key = KeyPair::from_pem(key_pem).map_err(|_| PkiError::BadKey)?;
        if key.subject_public_key_info() != cert.public_key().raw {
            return Err(PkiError::KeyMismatch);
        }
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .map_err(|e| PkiError::BadCert(e.to_string()))?;
        let is_root = cert.subject().as_raw() == cert.issuer().as_raw();
        let inner = rcgen::Issuer::from_ca_cert_der(&der, key).map_err(PkiError::Generate)?;
        Ok(Issuer {
            code,
            is_root,
            cert_pem: cert_pem.to_owned(),
            not_after,
            inner,
        })
    }

    /// The node this CA belongs to.
    pub fn code(&self) -> NodeCode {
        self.code
    }

    /// Issues `child`'s TLS certificate (server and client authentication)
    /// for the key in `csr_pem`. Returns the chain the child presents: the
    /// new leaf, then this CA's certificate unless it is the root.
    pub fn issue_leaf(
        &self,
        child: NodeCode,
        csr_pem: &str,
        now_ms: i64,
        validity_days: u32,
    ) -> Result<String, PkiError> {
        let mut params = self.child_params(child, now_ms, validity_days)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let leaf = self.sign(&params, csr_pem)?;
        Ok(if self.is_root {
            leaf
        } else {
            leaf + &self.cert_pem
        })
    }

    /// Issues a prefecture's CA certificate (path length 0: it certifies
    /// counties only). Only the root issues these.
    pub fn issue_intermediate(
        &self,
        child: NodeCode,
        csr_pem: &str,
        now_ms: i64,
        validity_days: u32,
    ) -> Result<String, PkiError> {
        if !self.is_root {
            return Err(PkiError::LeavesOnly(self.code));
        }
        if child == self.code {
            return Err(PkiError::OutsideSubtree {
                issuer: self.code,
                child,
            });
        }
        let mut params = self.child_params(child, now_ms, validity_days)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        self.sign(&params, csr_pem)
    }

    /// A server certificate for this node's own API (HTTPS for people and
    /// scripts, `[api] tls_from_ca`), for `names` (DNS names or IP
    /// addresses), with a fresh key made here: (chain PEM, key PEM). The
    /// chain is the leaf, then this CA unless it is the root, so a client
    /// that trusts the tree's root (`ca.pem`) trusts the API.
    ///
    /// The leaf names no node (no `fundsync://node/` URI) and is for server
    /// authentication only, so it can never pass as a node's certificate in
    /// sync, whoever gets hold of it.
    pub fn issue_api_server(
        &self,
        names: &[String],
        now_ms: i64,
        validity_days: u32,
    ) -> Result<(String, Zeroizing<String>), PkiError> {
        if names.is_empty() {
            return Err(PkiError::NoNames);
        }
        let (not_before, not_after) = validity(now_ms, validity_days, Some(self.not_after))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{} API", self.code));
        params.subject_alt_names = names
            .iter()
            .map(|n| match n.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => Ia5String::try_from(n.as_str())
                    .map(SanType::DnsName)
                    .map_err(|_| PkiError::BadName(n.clone())),
            })
            .collect::<Result<_, _>>()?;
        params.not_before = not_before;
        params.not_after = not_after;
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        params.use_authority_key_identifier_extension = true;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::Generate)?;
        let leaf = params
            .signed_by(&key, &self.inner)
            .map_err(PkiError::Generate)?
            .pem();
        let chain = if self.is_root {
            leaf
        } else {
            leaf + &self.cert_pem
        };
        Ok((chain, Zeroizing::new(key.serialize_pem())))
    }

    fn child_params(
        &self,
        child: NodeCode,
        now_ms: i64,
        days: u32,
    ) -> Result<CertificateParams, PkiError> {
        let level = if self.is_root {
            Level::Region
        } else {
            Level::Prefecture
        };
        if !within(self.code, level, child) {
            return Err(PkiError::OutsideSubtree {
                issuer: self.code,
                child,
            });
        }
        let (not_before, not_after) = validity(now_ms, days, Some(self.not_after))?;
        node_params(child, not_before, not_after)
    }

    /// Signs `params` for the CSR's key. The CSR's signature is checked (the
    /// child holds the key); its names, CA flag and usages are ignored.
    fn sign(&self, params: &CertificateParams, csr_pem: &str) -> Result<String, PkiError> {
        let csr = CertificateSigningRequestParams::from_pem(csr_pem).map_err(PkiError::BadCsr)?;
        let cert = params
            .signed_by(&csr.public_key, &self.inner)
            .map_err(PkiError::Generate)?;
        Ok(cert.pem())
    }
}

/// Nodes cut off, each with the time (ms since the epoch) it was cut off.
///
/// A certificate for a revoked node, or one presented with a revoked node's
/// CA certificate, is refused if it was issued (its notBefore) at or before
/// the revocation. A node that enrols again gets a newer certificate and is
/// accepted; its old certificates stay refused. Clones share one set, so a
/// revocation reaches a running server's next handshake at once. Connections
/// already open are not cut: the sync layer re-checks
/// `revoked.check(conn.peer_certificates())` per request.
#[derive(Debug, Clone, Default)]
pub struct Revoked(Arc<RwLock<HashMap<NodeCode, i64>>>);

impl Revoked {
    pub fn new() -> Revoked {
        Revoked::default()
    }

    /// Cuts `code` off as of `at_ms`; a later revocation of the same node wins.
    pub fn revoke(&self, code: NodeCode, at_ms: i64) {
        // The map is never left half-updated, so a poisoned lock is still sound.
        let mut map = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let at = map.entry(code).or_insert(at_ms);
        *at = (*at).max(at_ms);
    }

    /// Every revocation, by code, for saving.
    pub fn list(&self) -> Vec<(NodeCode, i64)> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<_> = map.iter().map(|(c, at)| (*c, *at)).collect();
        all.sort();
        all
    }

    /// Refuses a chain (leaf first) if any certificate in it is revoked.
    pub fn check(&self, chain: &[CertificateDer<'_>]) -> Result<(), PkiError> {
        let map = self.0.read().unwrap_or_else(PoisonError::into_inner);
        if map.is_empty() {
            return Ok(());
        }
        for der in chain {
            let cert = parse(der)?;
            let code = code_in(&cert)?;
            if let Some(at_ms) = map.get(&code) {
                let issued_ms = cert.validity().not_before.timestamp().saturating_mul(1000);
                if issued_ms <= *at_ms {
                    return Err(PkiError::Revoked(code));
                }
            }
        }
        Ok(())
    }
}

/// What a node presents and trusts: its TLS key, its chain (leaf first, then
/// the CA that issued it unless that is the root), and the tree's root.
pub struct NodeTls {
    pub key: PrivateKeyDer<'static>,
    pub chain: Vec<CertificateDer<'static>>,
    pub root: CertificateDer<'static>,
}

impl fmt::Debug for NodeTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.chain.first().map(|c| node_code_of(c));
        f.debug_struct("NodeTls")
            .field("code", &code)
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl NodeTls {
    pub fn from_pem(key_pem: &str, chain_pem: &str, root_pem: &str) -> Result<NodeTls, PkiError> {
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| PkiError::BadKey)?;
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PkiError::BadCert(e.to_string()))?;
        if chain.is_empty() {
            return Err(PkiError::BadCert("the chain holds no certificate".into()));
        }
        let root = CertificateDer::from_pem_slice(root_pem.as_bytes())
            .map_err(|e| PkiError::BadCert(e.to_string()))?;
        Ok(NodeTls { key, chain, root })
    }

    /// When this node's own certificate expires, ms since the epoch.
    pub fn expires_ms(&self) -> Result<i64, PkiError> {
        let leaf = self.chain.first().ok_or(PkiError::NoIdentity)?;
        Ok(parse(leaf)?
            .validity()
            .not_after
            .timestamp()
            .saturating_mul(1000))
    }

    /// This node's code, as its own certificate names it.
    pub fn code(&self) -> Result<NodeCode, PkiError> {
        let leaf = self.chain.first().ok_or(PkiError::NoIdentity)?;
        node_code_of(leaf)
    }

    fn roots(&self) -> Result<(Arc<RootCertStore>, NodeCode), PkiError> {
        let mut roots = RootCertStore::empty();
        roots.add(self.root.clone())?;
        Ok((Arc::new(roots), node_code_of(&self.root)?))
    }
}

/// Always the ring provider, never a process-wide default.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3 only: every peer is a fundsync node, and 1.3 keeps the client's
/// certificate (and so its division code) encrypted on the wire.
const VERSIONS: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

/// A server that verifies client certificates from the same tree, refuses
/// revoked ones, and presents `tls.chain`.
///
/// A client may also connect without a certificate: a child that is joining
/// has none yet. Such a connection has no [`peer_node`], and the sync layer
/// serves it only the CA certificate and the join request (which needs a
/// one-time token); everything else requires the peer's certificate.
pub fn server_config(tls: &NodeTls, revoked: Revoked) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = provider();
    let (roots, root) = tls.roots()?;
    let inner = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .allow_unauthenticated()
        .build()?;
    let verifier = ChildVerifier {
        inner,
        root,
        revoked,
    };
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(tls.chain.clone(), tls.key.clone_key())?;
    Ok(Arc::new(config))
}

/// The API listener's TLS (`[api]`): `chain_pem` (leaf first) and its key,
/// no client certificates (people sign in over HTTP), TLS 1.3, HTTP/1.1.
pub fn api_server_config(chain_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>, PkiError> {
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|_| PkiError::BadKey)?;
    let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::BadCert(e.to_string()))?;
    if chain.is_empty() {
        return Err(PkiError::BadCert("the chain holds no certificate".into()));
    }
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(VERSIONS)?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// [`api_server_config`] from the files `[api] tls_cert_file` and
/// `tls_key_file` name.
pub fn api_server_config_from_files(
    cert: &Path,
    key: &Path,
) -> Result<Arc<ServerConfig>, PkiError> {
    let key = Zeroizing::new(read_file(key)?);
    api_server_config(&read_file(cert)?, &key)
}

/// A client that presents `tls.chain` and accepts only a server whose
/// certificate, from the same tree, names node `server`. The host name
/// dialled is not checked (see the module docs).
pub fn client_config(tls: &NodeTls, server: NodeCode) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let (roots, root) = tls.roots()?;
    let verifier = ParentVerifier {
        roots,
        root,
        expected: server,
        algs: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(tls.chain.clone(), tls.key.clone_key())?;
    Ok(Arc::new(config))
}

/// A client with no certificate of its own (a child joining) that accepts
/// only a server whose certificate chains to `root_pem` and names `server`.
pub fn client_config_anonymous(
    root_pem: &str,
    server: NodeCode,
) -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let root = CertificateDer::from_pem_slice(root_pem.as_bytes())
        .map_err(|e| PkiError::BadCert(e.to_string()))?;
    let mut roots = RootCertStore::empty();
    roots.add(root.clone())?;
    let verifier = ParentVerifier {
        roots: Arc::new(roots),
        root: node_code_of(&root)?,
        expected: server,
        algs: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A client that accepts any server certificate. Only for fetching the
/// parent's CA certificate when joining, which the child then checks
/// against the fingerprint in its enrolment token before trusting it;
/// nothing secret is sent over such a connection.
pub fn client_config_unverified() -> Result<Arc<ClientConfig>, PkiError> {
    let provider = provider();
    let verifier = AcceptAnyServer {
        algs: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(VERSIONS)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// SHA-256 of the DER of the first certificate in `pem`: the fingerprint an
/// enrolment token carries.
pub fn fingerprint(pem: &str) -> Result<[u8; 32], PkiError> {
    use sha2::Digest;
    let der = CertificateDer::from_pem_slice(pem.as_bytes())
        .map_err(|e| PkiError::BadCert(e.to_string()))?;
    Ok(sha2::Sha256::digest(der.as_ref()).into())
}

#[derive(Debug)]
struct AcceptAnyServer {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// The authenticated peer's node code, after the handshake. Works on both
/// sides: `peer_node(tls_stream.get_ref().1)`.
pub fn peer_node(conn: &rustls::CommonState) -> Option<NodeCode> {
    let leaf = conn.peer_certificates()?.first()?;
    node_code_of(leaf).ok()
}

/// Checks a chain that webpki has already verified against the tree's shape:
/// the leaf names a node within the root's subtree and within every CA
/// presented with it. Returns the leaf's code.
fn check_tree(
    root: NodeCode,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<NodeCode, PkiError> {
    let leaf = node_code_of(end_entity)?;
    if !within(root, Level::Region, leaf) {
        return Err(PkiError::OutsideSubtree {
            issuer: root,
            child: leaf,
        });
    }
    for ca in intermediates {
        let ca = node_code_of(ca)?;
        let level = if ca == root {
            Level::Region
        } else {
            Level::Prefecture
        };
        if !within(root, Level::Region, ca) || !within(ca, level, leaf) {
            return Err(PkiError::OutsideSubtree {
                issuer: ca,
                child: leaf,
            });
        }
    }
    Ok(leaf)
}

/// How a refusal reaches rustls, and so the peer's alert.
fn refusal(e: PkiError) -> rustls::Error {
    let e = match e {
        PkiError::Revoked(_) => CertificateError::Revoked,
        e => CertificateError::Other(OtherError(Arc::new(e))),
    };
    rustls::Error::InvalidCertificate(e)
}

/// Server side: webpki's client verification, then the tree and revocation.
#[derive(Debug)]
struct ChildVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    root: NodeCode,
    revoked: Revoked,
}

impl ClientCertVerifier for ChildVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        check_tree(self.root, end_entity, intermediates).map_err(refusal)?;
        self.revoked
            .check(std::slice::from_ref(end_entity))
            .and_then(|()| self.revoked.check(intermediates))
            .map_err(|e| {
                // Loud where it is refused: a revoked node still knocking
                // is something an operator must see, by its code.
                if let PkiError::Revoked(code) = &e {
                    tracing::warn!(child = %code, "refused a revoked child's TLS handshake");
                }
                refusal(e)
            })?;
        Ok(ClientCertVerified::assertion())
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

/// Client side: webpki's chain verification without a host name, then the
/// tree, then the expected node code.
#[derive(Debug)]
struct ParentVerifier {
    roots: Arc<RootCertStore>,
    root: NodeCode,
    expected: NodeCode,
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ParentVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algs.all,
        )?;
        let actual = check_tree(self.root, end_entity, intermediates).map_err(refusal)?;
        if actual != self.expected {
            return Err(refusal(PkiError::WrongPeer {
                expected: self.expected,
                actual,
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Where a node keeps its TLS files: one directory, private keys mode 0600.
///
/// `node.key.pem`, `node.chain.pem` and `ca.pem` (the root) on every node;
/// `issuer.key.pem` and `issuer.cert.pem` on nodes with children (on the
/// region the issuer certificate is the root itself).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub dir: PathBuf,
}

impl TlsFiles {
    pub fn new(dir: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles { dir: dir.into() }
    }

    pub fn key(&self) -> PathBuf {
        self.dir.join("node.key.pem")
    }
    pub fn chain(&self) -> PathBuf {
        self.dir.join("node.chain.pem")
    }
    pub fn root(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn issuer_key(&self) -> PathBuf {
        self.dir.join("issuer.key.pem")
    }
    pub fn issuer_cert(&self) -> PathBuf {
        self.dir.join("issuer.cert.pem")
    }

    /// Writes this node's TLS key, chain and the tree's root.
    pub fn save_node(
        &self,
        key_pem: &str,
        chain_pem: &str,
        root_pem: &str,
    ) -> Result<(), PkiError> {
        write_file(&self.key(), key_pem, true)?;
        write_file(&self.chain(), chain_pem, false)?;
        write_file(&self.root(), root_pem, false)
    }

    /// Writes this node's issuing certificate and key.
    pub fn save_issuer(&self, cert_pem: &str, key_pem: &str) -> Result<(), PkiError> {
        write_file(&self.issuer_key(), key_pem, true)?;
        write_file(&self.issuer_cert(), cert_pem, false)
    }

    pub fn load_node(&self) -> Result<NodeTls, PkiError> {
        let key = Zeroizing::new(read_file(&self.key())?);
        NodeTls::from_pem(&key, &read_file(&self.chain())?, &read_file(&self.root())?)
    }

    pub fn load_issuer(&self) -> Result<Issuer, PkiError> {
        let key = Zeroizing::new(read_file(&self.issuer_key())?);
        Issuer::from_pem(&read_file(&self.issuer_cert())?, &key)
    }
}

fn read_file(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a private key file (mode 0600), atomically.
pub fn write_private(path: &Path, contents: &str) -> Result<(), PkiError> {
    write_file(path, contents, true)
}

/// Writes a public file (a certificate), atomically.
pub fn write_public(path: &Path, contents: &str) -> Result<(), PkiError> {
    write_file(path, contents, false)
}

/// Reads a PEM file.
pub fn read_pem(path: &Path) -> Result<String, PkiError> {
    read_file(path)
}

/// Writes through a fresh temporary file and a rename, so a crash leaves the
/// old file or the new one, and a secret is never readable by others.
fn write_file(path: &Path, contents: &str, secret: bool) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    let mut open = std::fs::OpenOptions::new();
    open.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        dir.mode(0o700);
        open.mode(if secret { 0o600 } else { 0o644 });
    }
    if let Some(parent) = path.parent() {
        dir.create(parent).map_err(io)?;
    }
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut file = open.open(&tmp).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::{TlsAcceptor, TlsConnector};

    const DAY_MS: i64 = 86_400_000;

    fn code(s: &str) -> NodeCode {
        s.parse().expect("valid node code")
    }

    fn now_ms() -> i64 {
        SystemClock.now_ms()
    }

    /// A node's TLS identity issued by `issuer` at `at_ms`.
    fn leaf(issuer: &Issuer, c: &str, root_pem: &str, at_ms: i64, days: u32) -> NodeTls {
        let (key, csr) = key_and_csr(code(c)).expect("key and csr");
        let chain = issuer
            .issue_leaf(code(c), &csr, at_ms, days)
            .expect("issue leaf");
        NodeTls::from_pem(&key, &chain, root_pem).expect("node tls")
    }

    /// Region 650000 → prefecture 652800 → county 652822, all valid now.
    struct Tree {
        root_pem: String,
        root: Issuer,
        prefecture_ca: Issuer,
        region: NodeTls,
        prefecture: NodeTls,
        county: NodeTls,
    }

    fn tree() -> Tree {
        let now = now_ms();
        let (root_pem, root_key) = root_ca(
            code("650000"),
            "新疆维吾尔自治区财政厅",
            now - 10 * DAY_MS,
            3650,
        )
        .expect("root");
        let root = Issuer::from_pem(&root_pem, &root_key).expect("root issuer");
        let (ca_key, ca_csr) = key_and_csr(code("652800")).expect("csr");
        let ca_pem = root
            .issue_intermediate(code("652800"), &ca_csr, now - 5 * DAY_MS, 365)
            .expect("intermediate");
        let prefecture_ca = Issuer::from_pem(&ca_pem, &ca_key).expect("prefecture issuer");
        Tree {
            region: leaf(&root, "650000", &root_pem, now - DAY_MS, 30),
            prefecture: leaf(&root, "652800", &root_pem, now - DAY_MS, 30),
            county: leaf(&prefecture_ca, "652822", &root_pem, now - DAY_MS, 30),
            root_pem,
            root,
            prefecture_ca,
        }
    }

    type Side = Result<Option<NodeCode>, std::io::Error>;

    /// One real TLS connection over 127.0.0.1: `client` dials `server`,
    /// expecting node `expect`. Returns what each side learnt of the other.
    async fn connect(
        server: &NodeTls,
        revoked: Revoked,
        client: &NodeTls,
        expect: &str,
    ) -> (Side, Side) {
        let acceptor = TlsAcceptor::from(server_config(server, revoked).expect("server config"));
        let connector =
            TlsConnector::from(client_config(client, code(expect)).expect("client config"));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await?;
            let mut tls = acceptor.accept(tcp).await?;
            let peer = peer_node(tls.get_ref().1);
            tls.write_all(b"ok").await?;
            tls.shutdown().await?;
            Ok(peer)
        });
        let client = async {
            let tcp = TcpStream::connect(addr).await?;
            // Any name will do: the server is recognised by its node code.
            let name = ServerName::try_from("127.0.0.1").expect("name");
            let mut tls = connector.connect(name, tcp).await?;
            let mut buf = [0u8; 2];
            // In TLS 1.3 a refused client learns it on its first read.
            tls.read_exact(&mut buf).await?;
            Ok(peer_node(tls.get_ref().1))
        }
        .await;
        (server.await.expect("server task"), client)
    }

    /// Asserts the side failed and its error mentions `why`.
    fn assert_refused(side: &Side, why: &str) {
        let e = side.as_ref().expect_err("refused");
        let shown = match e.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(tls) => format!("{tls:?}"),
            None => format!("{e:?}"),
        };
        assert!(shown.contains(why), "expected {why}, got {shown}");
    }

    /// The API's certificate from a prefecture's CA: a browser-like client
    /// that trusts only the tree's root accepts it for the names it was
    /// issued for and no other; it names no node, so it never passes for
    /// one in sync; a name that is no DNS name is refused.
    #[tokio::test]
    async fn the_api_certificate_from_a_prefecture_is_trusted_through_the_root() {
        let t = tree();
        let names = ["fundsync.652800.example".to_owned(), "10.0.0.5".to_owned()];
        let (chain, key) = t
            .prefecture_ca
            .issue_api_server(&names, now_ms(), 30)
            .expect("issued");
        let certs: Vec<_> = CertificateDer::pem_slice_iter(chain.as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain");
        assert_eq!(certs.len(), 2, "leaf and the prefecture's CA");
        assert!(matches!(node_code_of(&certs[0]), Err(PkiError::NoIdentity)));
        let acceptor = TlsAcceptor::from(api_server_config(&chain, &key).expect("config"));
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(t.root_pem.as_bytes()).expect("root"))
            .expect("add root");
        let client = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = TlsConnector::from(Arc::new(client));
        for (name, ok) in [
            ("fundsync.652800.example", true),
            ("10.0.0.5", true),
            ("evil.example", false),
        ] {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("address");
            let acceptor = acceptor.clone();
            let server = tokio::spawn(async move {
                let (tcp, _) = listener.accept().await?;
                let mut tls = acceptor.accept(tcp).await?;
                tls.write_all(b"ok").await?;
                tls.shutdown().await
            });
            let tcp = TcpStream::connect(addr).await.expect("connect");
            let server_name = ServerName::try_from(name.to_owned()).expect("name");
            let got = connector.connect(server_name, tcp).await;
            assert_eq!(got.is_ok(), ok, "{name}: {got:?}");
            let _ = server.await;
        }
        let e = t
            .root
            .issue_api_server(&["财政局.example".to_owned()], now_ms(), 30)
            .expect_err("refused");
        assert!(matches!(e, PkiError::BadName(_)), "{e}");
        assert!(matches!(
            t.root.issue_api_server(&[], now_ms(), 30),
            Err(PkiError::NoNames)
        ));
    }

    #[test]
    fn certificates_name_their_node() {
        let t = tree();
        assert_eq!(t.county.code().expect("code"), code("652822"));
        assert_eq!(t.county.chain.len(), 2, "leaf and the prefecture's CA");
        assert_eq!(
            node_code_of(&t.county.chain[1]).expect("ca"),
            code("652800")
        );
        assert_eq!(t.prefecture.chain.len(), 1, "issued by the root itself");
        assert_eq!(node_code_of(&t.county.root).expect("root"), code("650000"));
        let cert = parse(&t.county.chain[0]).expect("parse");
        let cn = cert.subject().iter_common_name().next().expect("cn");
        assert_eq!(cn.as_str().expect("utf8"), "652822");
    }

    #[tokio::test]
    async fn three_levels_shake_hands() {
        let t = tree();
        let (server, client) = connect(&t.prefecture, Revoked::new(), &t.county, "652800").await;
        assert_eq!(server.expect("prefecture accepts"), Some(code("652822")));
        assert_eq!(client.expect("county connects"), Some(code("652800")));

        let (server, client) = connect(&t.region, Revoked::new(), &t.prefecture, "650000").await;
        assert_eq!(server.expect("region accepts"), Some(code("652800")));
        assert_eq!(client.expect("prefecture connects"), Some(code("650000")));
    }

    #[tokio::test]
    async fn client_from_a_foreign_ca_is_refused() {
        let t = tree();
        // Same region code, different root key.
        let (pem, key) = root_ca(code("650000"), "forged", now_ms() - DAY_MS, 30).expect("root");
        let forged = Issuer::from_pem(&pem, &key).expect("issuer");
        let mut intruder = leaf(&forged, "652822", &pem, now_ms() - DAY_MS, 30);
        // It trusts the real root, so only the prefecture can object.
        intruder.root = t.county.root.clone();
        let (server, client) = connect(&t.prefecture, Revoked::new(), &intruder, "652800").await;
        assert_refused(&server, "UnknownIssuer");
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn server_from_a_foreign_ca_is_refused() {
        let t = tree();
        let (pem, key) = root_ca(code("650000"), "forged", now_ms() - DAY_MS, 30).expect("root");
        let forged = Issuer::from_pem(&pem, &key).expect("issuer");
        let impostor = leaf(&forged, "652800", &pem, now_ms() - DAY_MS, 30);
        let (server, client) = connect(&impostor, Revoked::new(), &t.county, "652800").await;
        assert_refused(&client, "UnknownIssuer");
        assert!(server.is_err());
    }

    #[tokio::test]
    async fn expired_client_is_refused() {
        let t = tree();
        let stale = leaf(
            &t.prefecture_ca,
            "652822",
            &t.root_pem,
            now_ms() - 3 * DAY_MS,
            1,
        );
        let (server, client) = connect(&t.prefecture, Revoked::new(), &stale, "652800").await;
        assert_refused(&server, "Expired");
        assert!(client.is_err());
    }

    #[tokio::test]
    async fn server_must_be_the_expected_node() {
        let t = tree();
        // The region's certificate is sound, but the county dialled its prefecture.
        let (server, client) = connect(&t.region, Revoked::new(), &t.county, "652800").await;
        assert_refused(&client, "WrongPeer");
        assert!(server.is_err());
    }

    #[tokio::test]
    async fn revoked_child_is_refused_until_it_enrols_again() {
        let t = tree();
        let revoked = Revoked::new();
        let (server, _) = connect(&t.prefecture, revoked.clone(), &t.county, "652800").await;
        assert!(server.is_ok());

        // Revoked a moment ago; the county's certificate is older.
        revoked.revoke(code("652822"), now_ms() - 2000);
        let (server, client) = connect(&t.prefecture, revoked.clone(), &t.county, "652800").await;
        assert_refused(&server, "Revoked");
        assert!(client.is_err());
        assert!(matches!(
            revoked.check(&t.county.chain),
            Err(PkiError::Revoked(c)) if c == code("652822")
        ));

        // A certificate issued after the revocation is accepted.
        let again = leaf(&t.prefecture_ca, "652822", &t.root_pem, now_ms(), 30);
        let (server, _) = connect(&t.prefecture, revoked.clone(), &again, "652800").await;
        assert_eq!(server.expect("accepted"), Some(code("652822")));
    }

    #[tokio::test]
    async fn revoking_a_prefecture_cuts_off_what_its_ca_signed() {
        let t = tree();
        let revoked = Revoked::new();
        revoked.revoke(code("652800"), now_ms());
        let (server, _) = connect(&t.region, revoked.clone(), &t.county, "650000").await;
        assert_refused(&server, "Revoked");
        let (server, _) = connect(&t.region, revoked.clone(), &t.prefecture, "650000").await;
        assert_refused(&server, "Revoked");
        assert_eq!(revoked.list().len(), 1);
    }

    #[tokio::test]
    async fn a_ca_cannot_speak_for_another_subtree() {
        let t = tree();
        // A stolen prefecture key, used without the Issuer's checks.
        let (key, csr) = key_and_csr(code("652901")).expect("csr");
        let (nb, na) = validity(now_ms() - DAY_MS, 30, None).expect("validity");
        let mut params = node_params(code("652901"), nb, na).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let rogue = t.prefecture_ca.sign(&params, &csr).expect("sign");
        let chain = rogue + &t.prefecture_ca.cert_pem;
        let rogue = NodeTls::from_pem(&key, &chain, &t.root_pem).expect("tls");
        let (server, _) = connect(&t.region, Revoked::new(), &rogue, "650000").await;
        assert_refused(&server, "OutsideSubtree");
    }

    #[test]
    fn node_code_of_refuses_missing_or_bad_identity() {
        let self_signed = |sans: Vec<SanType>| {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
            let mut params = CertificateParams::default();
            params.subject_alt_names = sans;
            params.self_signed(&key).expect("cert").der().to_vec()
        };
        let uri = |s: &str| SanType::URI(Ia5String::try_from(s).expect("ia5"));
        let dns = SanType::DnsName(Ia5String::try_from("652800.example").expect("ia5"));

        assert!(matches!(
            node_code_of(&self_signed(vec![])),
            Err(PkiError::NoIdentity)
        ));
        assert!(matches!(
            node_code_of(&self_signed(vec![
                dns.clone(),
                uri("https://652800.example/")
            ])),
            Err(PkiError::NoIdentity)
        ));
        for bad in ["65280X", "6528001", "65280", ""] {
            let der = self_signed(vec![uri(&format!("{NODE_URI_PREFIX}{bad}"))]);
            assert!(
                matches!(node_code_of(&der), Err(PkiError::BadCode(c)) if c == bad),
                "{bad}"
            );
        }
        let two = self_signed(vec![
            uri("fundsync://node/652800"),
            uri("fundsync://node/652822"),
        ]);
        assert!(matches!(node_code_of(&two), Err(PkiError::ManyIdentities)));
        let one = self_signed(vec![dns, uri("fundsync://node/652800")]);
        assert_eq!(node_code_of(&one).expect("code"), code("652800"));
        assert!(matches!(
            node_code_of(b"not a certificate"),
            Err(PkiError::BadCert(_))
        ));
    }

    #[test]
    fn the_parent_writes_the_identity_not_the_csr() {
        let t = tree();
        // The child asks to be the region, a CA, with host names.
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut wish = CertificateParams::new(vec!["evil.example".to_owned()]).expect("params");
        wish.subject_alt_names.push(SanType::URI(
            Ia5String::try_from("fundsync://node/650000").expect("ia5"),
        ));
        wish.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        wish.distinguished_name.push(DnType::CommonName, "650000");
        let csr = wish
            .serialize_request(&key)
            .expect("csr")
            .pem()
            .expect("pem");

        let chain = t
            .prefecture_ca
            .issue_leaf(code("652822"), &csr, now_ms(), 30)
            .expect("issued");
        let der = CertificateDer::from_pem_slice(chain.as_bytes()).expect("pem");
        assert_eq!(node_code_of(&der).expect("code"), code("652822"));
        let cert = parse(&der).expect("parse");
        let names = &cert
            .subject_alternative_name()
            .expect("san")
            .expect("present")
            .value
            .general_names;
        assert_eq!(names.len(), 1, "{names:?}");
        let bc = cert.basic_constraints().expect("bc").expect("present");
        assert!(!bc.value.ca);
        let cn = cert.subject().iter_common_name().next().expect("cn");
        assert_eq!(cn.as_str().expect("utf8"), "652822");
        // The key is the CSR's.
        assert_eq!(cert.public_key().raw, key.subject_public_key_info());

        // A tampered CSR (signature no longer matches) is refused.
        let mut bad = csr.into_bytes();
        let mid = bad.len() / 2;
        bad[mid] = if bad[mid] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).expect("ascii");
        assert!(matches!(
            t.prefecture_ca
                .issue_leaf(code("652822"), &bad, now_ms(), 30),
            Err(PkiError::BadCsr(_))
        ));
    }

    #[test]
    fn issuers_stay_in_their_subtree() {
        let t = tree();
        let now = now_ms();
        let (_, csr) = key_and_csr(code("652900")).expect("csr");
        assert!(matches!(
            t.prefecture_ca.issue_leaf(code("652901"), &csr, now, 30),
            Err(PkiError::OutsideSubtree { .. })
        ));
        assert!(matches!(
            t.prefecture_ca
                .issue_intermediate(code("652822"), &csr, now, 30),
            Err(PkiError::LeavesOnly(_))
        ));
        assert!(matches!(
            t.root.issue_leaf(code("640000"), &csr, now, 30),
            Err(PkiError::OutsideSubtree { .. })
        ));
        assert!(matches!(
            t.root.issue_intermediate(code("650000"), &csr, now, 30),
            Err(PkiError::OutsideSubtree { .. })
        ));
        for days in [0, VALIDITY_DAYS_MAX + 1] {
            assert!(matches!(
                t.root.issue_leaf(code("652900"), &csr, now, days),
                Err(PkiError::Validity { .. })
            ));
        }
        // Never beyond the issuer's own expiry.
        let chain = t
            .prefecture_ca
            .issue_leaf(code("652822"), &csr, now, 3000)
            .expect("issued");
        let der = CertificateDer::from_pem_slice(chain.as_bytes()).expect("pem");
        let not_after = parse(&der).expect("parse").validity().not_after.timestamp();
        assert_eq!(not_after, t.prefecture_ca.not_after.unix_timestamp());
    }

    #[test]
    fn issuer_key_must_match_and_be_a_ca() {
        let t = tree();
        let (other_pem, other_key) = root_ca(code("650000"), "x", now_ms(), 1).expect("root");
        assert!(matches!(
            Issuer::from_pem(&t.root_pem, &other_key),
            Err(PkiError::KeyMismatch)
        ));
        assert!(Issuer::from_pem(&other_pem, &other_key).is_ok());
        let (key, csr) = key_and_csr(code("652822")).expect("csr");
        let chain = t
            .prefecture_ca
            .issue_leaf(code("652822"), &csr, now_ms(), 30)
            .expect("issued");
        assert!(matches!(
            Issuer::from_pem(&chain, &key),
            Err(PkiError::NotCa(_))
        ));
    }

    #[test]
    fn files_round_trip_with_private_keys_kept_private() {
        let t = tree();
        let dir = tempfile::tempdir().expect("tempdir");
        let files = TlsFiles::new(dir.path().join("tls"));
        let (key, csr) = key_and_csr(code("652822")).expect("csr");
        let chain = t
            .prefecture_ca
            .issue_leaf(code("652822"), &csr, now_ms(), 30)
            .expect("issued");
        files.save_node(&key, &chain, &t.root_pem).expect("save");
        files
            .save_node(&key, &chain, &t.root_pem)
            .expect("overwrite");
        let loaded = files.load_node().expect("load");
        assert_eq!(loaded.code().expect("code"), code("652822"));
        assert_eq!(loaded.chain.len(), 2);
        assert!(!format!("{loaded:?}").contains("PRIVATE"));

        let (ca_key, ca_csr) = key_and_csr(code("652800")).expect("csr");
        let ca = t
            .root
            .issue_intermediate(code("652800"), &ca_csr, now_ms(), 30)
            .expect("ca");
        files.save_issuer(&ca, &ca_key).expect("save issuer");
        assert_eq!(files.load_issuer().expect("load").code(), code("652800"));

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: PathBuf| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(files.key()), 0o600);
            assert_eq!(mode(files.issuer_key()), 0o600);
            assert_eq!(mode(files.dir.clone()), 0o700);
        }
        assert!(matches!(
            TlsFiles::new(dir.path().join("missing")).load_node(),
            Err(PkiError::Io { .. })
        ));
    }
}
