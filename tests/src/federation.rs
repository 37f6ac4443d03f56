//! [`TestFederation`]: the files a federation of test gateways shares (PKI, signed trust list,
//! root key, linkage key), and its members as [`TestGateway`]s or, for tests that reach into a
//! node, as [`InProcessMember`]s.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::web;
use pes_gateway::auth::Role;
use pes_gateway::cluster::Site;
use pes_gateway::config::FederationConfig;
use pes_gateway::federation::node::Federation;
use pes_gateway::federation::trust::{sign_trust_list, TrustList};
use pes_gateway::node::Node;
use pes_gateway::signed_note;

use crate::gateway::{site_token, write_site, GatewayBuilder, TestGateway};
use crate::http::free_port;
use crate::pki::{policy_trust, root_key, Pki};

/// The person-linkage key every member of a test federation holds, so a person has one
/// `person_key` everywhere.
pub const LINKAGE_KEY: [u8; 32] = [7u8; 32];

/// Deadline of a member's calls to its peers.
pub const DEADLINE_MS: u64 = 2000;

/// A federation's shared files, in the PKI's temporary directory.
pub struct TestFederation {
    /// Member regions, in the order given.
    pub regions: Vec<String>,
    /// Each member's federation (mTLS) port on 127.0.0.1, in [`TestFederation::regions`] order.
    pub fed_ports: Vec<u16>,
    /// Certificates and keys of every member.
    pub pki: Pki,
    /// The root key that signs trust lists.
    pub root: signed_note::SigningKey,
    /// Its verifier key, as a member's config names it.
    pub root_key: String,
    /// The trust list in force (as last published).
    pub trust: TrustList,
    /// `federation.json` in the PKI directory: the signed trust list every member reads.
    pub trust_path: PathBuf,
    /// The shared linkage key ([`LINKAGE_KEY`]).
    pub linkage: PathBuf,
}

impl TestFederation {
    /// A federation of `regions` on free ports, with trust list `version` from
    /// [`policy_trust`] (statistics on vacancies, persons and registrations).
    pub fn new(regions: &[&str], version: u64) -> TestFederation {
        TestFederation::with_trust(regions, version, |_| {})
    }

    /// [`TestFederation::new`] after `edit` changed the trust list.
    pub fn with_trust(
        regions: &[&str],
        version: u64,
        edit: impl FnOnce(&mut TrustList),
    ) -> TestFederation {
        let fed_ports: Vec<u16> = regions.iter().map(|_| free_port()).collect();
        TestFederation::on_ports(regions, &fed_ports, version, edit)
    }

    /// [`TestFederation::with_trust`] with the members' federation ports given (a test that
    /// holds some of them with fake peers).
    pub fn on_ports(
        regions: &[&str],
        fed_ports: &[u16],
        version: u64,
        edit: impl FnOnce(&mut TrustList),
    ) -> TestFederation {
        assert_eq!(regions.len(), fed_ports.len(), "one port per region");
        let pki = Pki::new(regions);
        let fed_ports = fed_ports.to_vec();
        let mut trust = policy_trust(&pki, regions, version, &fed_ports);
        edit(&mut trust);
        let root = root_key();
        let trust_path = pki.path().join("federation.json");
        let linkage = pki.path().join("linkage.key");
        std::fs::write(&linkage, LINKAGE_KEY).unwrap();
        let fed = TestFederation {
            regions: regions.iter().map(|r| r.to_string()).collect(),
            fed_ports,
            root_key: root.verifier().to_string(),
            root,
            pki,
            trust: trust.clone(),
            trust_path,
            linkage,
        };
        fed.publish(&trust);
        fed
    }

    /// [`policy_trust`] of this federation at `version` (not published).
    pub fn policy_trust(&self, version: u64) -> TrustList {
        let regions: Vec<&str> = self.regions.iter().map(String::as_str).collect();
        policy_trust(&self.pki, &regions, version, &self.fed_ports)
    }

    /// Signs `trust` with the root into [`TestFederation::trust_path`], as the authority
    /// publishes a new version (members read it at start or reload).
    pub fn publish(&self, trust: &TrustList) {
        std::fs::write(
            &self.trust_path,
            sign_trust_list(trust, &self.root).unwrap(),
        )
        .unwrap();
    }

    /// The federation port of `region`.
    pub fn fed_port(&self, region: &str) -> u16 {
        let i = self
            .regions
            .iter()
            .position(|r| r == region)
            .unwrap_or_else(|| panic!("{region} is not a member"));
        self.fed_ports[i]
    }

    /// The `[federation]` section of `region`'s gateway.
    pub fn config_of(&self, region: &str) -> FederationConfig {
        FederationConfig {
            listen: format!("127.0.0.1:{}", self.fed_port(region)),
            pki_dir: self.pki.path().to_owned(),
            trust_list: self.trust_path.clone(),
            root_key: self.root_key.clone(),
            deadline_ms: DEADLINE_MS,
            reload_secs: 3600,
            state_dir: None,
            witness_key: None,
        }
    }

    /// A builder of `region`'s gateway: the `[federation]` section and the shared linkage key.
    pub fn member<'a>(&self, exe: impl AsRef<Path>, region: &str) -> GatewayBuilder<'a> {
        TestGateway::builder(exe)
            .region(region)
            .federation(self.config_of(region))
            .linkage_key(&self.linkage)
    }

    /// Every member created and spawned, in region order, without waiting (an async test then
    /// awaits [`TestGateway::ready`]).
    pub fn spawn_all(&self, exe: impl AsRef<Path>) -> Vec<TestGateway> {
        self.regions
            .iter()
            .map(|r| {
                let mut g = self.member(exe.as_ref(), r).create();
                g.spawn();
                g
            })
            .collect()
    }

    /// [`TestFederation::spawn_all`], then each member awaited until it answers (async tests).
    pub async fn start_all(&self, exe: impl AsRef<Path>) -> Vec<TestGateway> {
        let mut gws = self.spawn_all(exe);
        for gw in &mut gws {
            gw.ready().await;
        }
        gws
    }

    /// `region`'s gateway in this process: its [`Node`] serving the HTTP API and its
    /// [`Federation`] serving the mTLS listener on the actix runtime of the calling test, for a
    /// test that calls into them directly (`aggregate`, `set_peers`, the audit log). The
    /// config has no `[federation]` section and keeps its own linkage key; the federation
    /// is opened with [`TestFederation::config_of`].
    pub fn in_process_member(&self, region: &str) -> InProcessMember {
        let dir = tempfile::tempdir().unwrap();
        let (site, cfg) = write_site(dir.path(), region, |_| {});
        let node = Arc::new(Node::open(cfg).unwrap());
        actix_web::rt::spawn(pes_gateway::api::serve(node.clone()));
        let node = web::Data::from(node);
        let fed = Federation::open(region, self.config_of(region)).unwrap();
        actix_web::rt::spawn(fed.clone().serve(node.clone()));
        InProcessMember {
            region: region.to_string(),
            base: site.url(),
            node,
            fed,
            site,
            _dir: dir,
        }
    }
}

/// A member run in the test's process (see [`TestFederation::in_process_member`]).
pub struct InProcessMember {
    /// Region code.
    pub region: String,
    /// The node (store, audit log, rollups).
    pub node: web::Data<Node>,
    /// The federation side (fan-out, peers).
    pub fed: Arc<Federation>,
    /// `http://127.0.0.1:<port>` of the HTTP API.
    pub base: String,
    site: Site,
    _dir: tempfile::TempDir,
}

impl InProcessMember {
    /// A token of this member's issuer, valid for ten minutes.
    pub fn token_as(&self, role: Role, sub: &str, sources: &[&str], purposes: &[&str]) -> String {
        site_token(&self.site, role, sub, sources, purposes, 600)
    }
}
