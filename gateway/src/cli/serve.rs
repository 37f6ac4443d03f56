//! `pesgw serve --config gateway.toml`: runs a regional gateway.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use pes_gateway::config::GatewayConfig;
use pes_gateway::federation::node::Federation;
use pes_gateway::node::Node;

/// Arguments of `pesgw serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The gateway's config file.
    #[arg(long, default_value = "gateway.toml")]
    config: PathBuf,
    /// Stop gracefully when standard input reaches its end: a parent that starts gateways
    /// (`pesgw demo`, the benches, the tests) holds the other end, so they never outlive it,
    /// even when it is killed.
    #[arg(long, hide = true)]
    stop_on_stdin_eof: bool,
}

/// Runs the server until it is stopped.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    super::logging::init("info");
    let config = GatewayConfig::load(&args.config)?;
    if args.stop_on_stdin_eof {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
            tracing::info!("standard input closed: the parent is gone, stopping");
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::TERM,
            );
        });
    }
    let listen = config.listen.clone();
    let fed = match &config.federation {
        Some(f) => Some(
            Federation::open(&config.region, f.clone()).context("starting the federation side")?,
        ),
        None => None,
    };
    let node = Arc::new(Node::open(config).context("starting the gateway")?);
    tracing::info!(%listen, region = %node.config.region, "regional gateway listening");
    actix_web::rt::System::new()
        .block_on(async {
            actix_web::rt::spawn(reload_on_sighup(fed.clone()));
            if let Some(fed) = &fed {
                let data = actix_web::web::Data::from(node.clone());
                let fed = fed.clone();
                let listen = node.config.federation.as_ref().map(|f| f.listen.clone());
                tracing::info!(listen = ?listen, "federation mTLS listener starting");
                actix_web::rt::spawn(async move {
                    if let Err(e) = fed.serve(data).await {
                        tracing::error!(error = %e, "federation listener stopped");
                    }
                });
            }
            pes_gateway::api::serve_federated(node, fed).await
        })
        .context("HTTP server")?;
    Ok(ExitCode::SUCCESS)
}

/// `systemctl reload pesgw` sends SIGHUP: the trust list and the CRL are re-read at once rather
/// than at the next `reload_secs`. Without a federation there is nothing to reload, but the
/// signal is still caught: its default action would end the gateway.
async fn reload_on_sighup(fed: Option<Arc<Federation>>) {
    use actix_web::rt::signal::unix::{signal, SignalKind};
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; reloads only every reload_secs");
            return;
        }
    };
    while hup.recv().await.is_some() {
        match &fed {
            Some(f) => match f.reload() {
                Ok(r) => tracing::info!(outcome = ?r, "SIGHUP: trust list and CRL reloaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "SIGHUP: reload refused; the current trust list stays")
                }
            },
            None => tracing::info!("SIGHUP: no [federation] section, nothing to reload"),
        }
    }
}
