//! Connections of the PostgreSQL store: settings from `[store]`, connecting on the store's own
//! runtime, blocking on a query from any thread (an actix worker too), error sorting, and the
//! schema migrations.
//!
//! The store's trait is synchronous and is called from the applier thread, the blocking pool
//! and sometimes an async handler. `tokio_postgres`'s connection task (the socket) runs on a
//! small runtime the store owns; a [`tokio_postgres::Client`] only talks to it over channels, so
//! its futures are driven by [`block_on`] on the calling thread, which needs no runtime there
//! (the sync `postgres` crate's `block_on` would panic inside an actix worker).

use crate::config::{check_schema, check_url};
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use super::super::StoreError;
use crate::config::StoreTuning;

/// Longest one statement (or a connect) may take before the store gives up on the connection.
pub(super) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);
/// Connecting gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the PostgreSQL store is and how to log in. `Debug` leaves the password out.
#[derive(Clone)]
pub struct PgSettings {
    pub(super) config: tokio_postgres::Config,
    /// The schema holding the tables.
    pub schema: String,
}

impl std::fmt::Debug for PgSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSettings")
            .field("target", &self.target())
            .field("schema", &self.schema)
            .finish()
    }
}

impl PgSettings {
    /// Settings from a URL without a password (tests, the bench), for `schema`.
    pub fn from_url(url: &str, schema: &str) -> Result<PgSettings, StoreError> {
        check_schema(schema).map_err(|p| StoreError::Backend(format!("store schema {p}")))?;
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("store URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("pesgw");
        Ok(PgSettings {
            config,
            schema: schema.to_string(),
        })
    }

    /// Settings from `[store]`, with the password read from its file or variable.
    pub fn from_config(tuning: &StoreTuning) -> Result<PgSettings, StoreError> {
        let url = tuning
            .url
            .as_deref()
            .ok_or_else(|| StoreError::Backend("[store] url is not set".into()))?;
        check_url(url).map_err(|p| StoreError::Backend(format!("[store] url {p}")))?;
        let mut s = PgSettings::from_url(url, &tuning.schema)?;
        let password = match (&tuning.password_file, &tuning.password_env) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    StoreError::Backend(format!("[store] password_file {}: {e}", path.display()))
                })?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                StoreError::Backend(format!("[store] password_env: ${var} is not set"))
            })?),
            (None, None) => None,
        };
        if let Some(p) = password {
            s.config.password(p);
        }
        Ok(s)
    }

    /// Host (or socket directory), port and database, for logs: never the password.
    pub fn target(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or("(default)");
        format!("{host}:{port}/{db}")
    }
}

/// Opens a connection on `rt`, with the session set up: the schema created if missing and put
/// on the search path, and commits synchronous (an applied offset is durable once committed).
pub(super) fn connect(
    rt: &tokio::runtime::Runtime,
    settings: &PgSettings,
) -> Result<Client, StoreError> {
    let config = settings.config.clone();
    let target = settings.target();
    let task = rt.spawn(async move {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, %target, "PostgreSQL connection closed");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    });
    let client = match block_on(task, CONNECT_TIMEOUT + Duration::from_secs(1)) {
        Ok(Ok(Ok(c))) => c,
        Ok(Ok(Err(e))) => return Err(pg_err(e)),
        Ok(Err(join)) => return Err(StoreError::Backend(format!("connect task: {join}"))),
        Err(t) => return Err(t),
    };
    // The schema name is a checked identifier (config::check_store, or the tests' own).
    let setup = format!(
        "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s}; SET synchronous_commit TO on",
        s = settings.schema
    );
    wait(client.batch_execute(&setup))?;
    Ok(client)
}

/// Drives `fut` to completion on this thread, giving up after `timeout` (a lost server must
/// not hang the applier or a request forever).
pub(super) fn block_on<F: Future>(fut: F, timeout: Duration) -> Result<F::Output, StoreError> {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Ok(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "PostgreSQL did not answer in time",
            )));
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// [`block_on`] for one client call, with the error sorted.
pub(super) fn wait<T>(
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    block_on(fut, STATEMENT_TIMEOUT)?.map_err(pg_err)
}

/// Sorts a PostgreSQL error into the boundary's: a lost connection, a full disk, a server
/// shutting down or a serialization failure is worth retrying; damaged data is corruption;
/// anything else (a bug, a schema the store does not know) is not. Never the error's detail,
/// which may quote stored values.
pub(super) fn pg_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::Io(std::io::Error::other(e.to_string()));
    };
    let code = db.code().code();
    let text = format!("PostgreSQL {code}: {}", db.message());
    let retry = ["08", "53", "57", "58", "40"]
        .iter()
        .any(|class| code.starts_with(class));
    if retry {
        StoreError::Io(std::io::Error::other(text))
    } else if code == "XX001" || code == "XX002" {
        StoreError::Corrupt(text)
    } else {
        StoreError::Backend(text)
    }
}

/// Schema migrations, in order: `(version, SQL)`. A migration runs once, in its own transaction
/// with its version recorded, under a lock so two gateways starting together do not both run it.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("migrations/0001_init.sql"))];

/// Applies the migrations the schema has not had yet.
pub(super) fn migrate(client: &mut Client, lock_key: i64) -> Result<(), StoreError> {
    wait(client.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version integer PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    ))?;
    for (version, sql) in MIGRATIONS {
        let tx = wait(client.transaction())?;
        wait(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&(lock_key ^ 1)]))?;
        let done = wait(tx.query_opt(
            "SELECT 1 FROM schema_migrations WHERE version = $1",
            &[version],
        ))?;
        if done.is_none() {
            wait(tx.batch_execute(sql))?;
            wait(tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[version],
            ))?;
            tracing::info!(version, "PostgreSQL store: migration applied");
        }
        wait(tx.commit())?;
    }
    Ok(())
}
