//! The test kit of the workspace: ONE harness for tests that need a running gateway.
//!
//! Everything runs on 127.0.0.1 in temporary directories, and a gateway is a real `pesgw serve`
//! child process started through [`pes_gateway::cluster::process::Process`] (own process
//! group, output in `gateway.log` in its directory, stops itself if the test process dies).
//! Only the package that defines the `pesgw` binary can name it, so its tests pass the path
//! in with [`pesgw!`]: `pes-gateway` has this crate as a dev-dependency.
//!
//! The dashboard's browser test lives in `tests/browser/` (run by `.ci/run`); the fuzz corpora
//! in `tests/fuzz/`.
//!
//! # One gateway
//!
//! ```ignore
//! use pes_testkit::{pesgw, TestGateway, REGION, SOURCE};
//!
//! // Region 440000 with the native source `gd-hr`, running, `/healthz` answered.
//! let mut g = TestGateway::builder(pesgw!()).k(1).start();
//! g.push(pes_gateway::native_sample::ndjson(0..10, REGION, SOURCE, 1), true);
//! let persons = g.total("person");
//! let analyst = g.token(pes_gateway::auth::Role::Analyst, &[], &[]); // sub `analyst-test`
//! g.kill(); // SIGKILL (`g.stop()` is SIGTERM)
//! g.run(); // the same data and port again
//! println!("{}", g.log_tail(20));
//! ```
//!
//! [`TestGateway::start`], [`TestGateway::start_with`] and [`TestGateway::start_in`] are the
//! short forms; [`TestGateway::builder`] sets the region, `k`, config changes and the
//! process's environment, and [`GatewayBuilder::create`] makes one without starting it.
//!
//! # A crash child
//!
//! A fault test starts the process with the journal's fault variables and SIGKILLs it:
//!
//! ```ignore
//! use pes_testkit::{pesgw, TestGateway};
//! let mut g = TestGateway::builder(pesgw!()).k(1).create();
//! g.env.push(("PESGW_FAULT_FSYNC".into(), "fail-after:3".into()));
//! g.run();
//! g.kill();
//! ```
//!
//! # A federation
//!
//! ```ignore
//! use pes_testkit::{pesgw, TestFederation};
//! let fed = TestFederation::new(&["100000", "440000"], 1); // PKI, signed trust list v1
//! let national = fed.member(pesgw!(), "100000").start();
//! let province = fed.member(pesgw!(), "440000").start();
//! fed.publish(&fed.policy_trust(2)); // a new trust list version
//! ```
//!
//! An async (`actix_web::test`) test uses [`TestFederation::spawn_all`] and
//! [`TestGateway::ready`], never the blocking helpers. A test that calls into a node
//! (`aggregate`, `set_peers`) runs the member in its own process:
//! [`TestFederation::in_process_member`]. Fake peers that misbehave on purpose are in
//! [`peer`].

mod federation;
mod gateway;
pub mod http;
pub mod peer;
mod pki;

pub use federation::{InProcessMember, TestFederation, DEADLINE_MS, LINKAGE_KEY};
pub use gateway::{GatewayBuilder, TestGateway, REGION, SOURCE};
pub use http::{free_listener, free_port, free_port_run, post, wait_ready, Pushed};
pub use pki::{policy_trust, publish_trust, root_key, trust_store, trust_store_with_root, Pki};

/// The path of the `pesgw` binary of the calling test crate (`CARGO_BIN_EXE_pesgw`, which only
/// `pes-gateway`'s own integration tests have).
#[macro_export]
macro_rules! pesgw {
    () => {
        ::std::path::Path::new(env!("CARGO_BIN_EXE_pesgw"))
    };
}
