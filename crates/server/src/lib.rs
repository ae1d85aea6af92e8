//! mamori-server: the HTTP server. Only wiring: opens each service's store, mounts each
//! service's routes behind one authentication layer, serves `/healthz` and `/metrics`, runs the
//! background tasks (retention, delivery, detection, re-matching) and shuts down gracefully.
//!
//! Owns the data directory's lock and permissions, the accept loop (`listen.rs`) and the JSON
//! shape of every error (`errors.rs`). Depends on every service crate; no service logic lives
//! here, and it never opens a service's database except through that service's `open`.

#![forbid(unsafe_code)]

mod auth;
mod errors;
mod listen;
mod telemetry;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use mamori_core::{ApiError, AuditSink, Config};
use mamori_org::Org;
use mamori_trail::Trail;
use mamori_trail::audit::TrailAudit;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot use data directory {path}: {message}")]
    DataDir { path: PathBuf, message: String },
    #[error(
        "another mamori process is using data directory {0}; stop it, or talk to it with --endpoint"
    )]
    Locked(PathBuf),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot write the bootstrap key to {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("organization store: {0}")]
    Org(#[from] mamori_org::OrgError),
    #[error("event history: {0}")]
    Trail(#[from] mamori_trail::history::store::StoreError),
    #[error("trails: {0}")]
    Trails(#[from] mamori_trails::store::TrailsError),
    #[error("inspection: {0}")]
    Inspect(#[from] mamori_inspect::store::StoreError),
    #[error("advisory database: {0}")]
    Advisories(#[from] mamori_inspect::db::DbError),
    #[error("detection: {0}")]
    Guard(#[from] mamori_guard::store::GuardError),
    #[error("metrics: {0}")]
    Metrics(String),
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// Holds the data directory's lock for as long as it lives: one process per data dir.
pub struct DataDirLock {
    _file: std::fs::File,
}

pub fn lock_data_dir(dir: &Path) -> Result<DataDirLock, ServeError> {
    std::fs::create_dir_all(dir).map_err(|e| ServeError::DataDir {
        path: dir.into(),
        message: e.to_string(),
    })?;
    mamori_core::db::make_private(dir).map_err(|e| ServeError::DataDir {
        path: dir.into(),
        message: format!("cannot make it private (0700, files 0600): {e}"),
    })?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(|e| ServeError::DataDir {
            path: dir.into(),
            message: e.to_string(),
        })?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::Locked(dir.into())),
        Err(std::fs::TryLockError::Error(e)) => Err(ServeError::DataDir {
            path: dir.into(),
            message: e.to_string(),
        }),
    }
}

pub struct ServeOptions {
    pub config: Config,
    pub bootstrap_key_file: Option<PathBuf>,
}

/// Writes the admin key once: to a 0600 file for automation, else to stdout.
fn announce_bootstrap(
    b: &mamori_org::Bootstrap,
    key_file: Option<&Path>,
) -> Result<(), ServeError> {
    match key_file {
        Some(path) => {
            let mut f = {
                let mut o = std::fs::OpenOptions::new();
                o.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
                o.open(path).map_err(|source| ServeError::KeyFile {
                    path: path.into(),
                    source,
                })?
            };
            #[cfg(unix)]
            std::os::unix::fs::PermissionsExt::set_mode(&mut f.metadata()?.permissions(), 0o600);
            #[cfg(unix)]
            std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .map_err(|source| ServeError::KeyFile {
                    path: path.into(),
                    source,
                })?;
            writeln!(f, "{}", b.token).map_err(|source| ServeError::KeyFile {
                path: path.into(),
                source,
            })?;
            f.sync_all().map_err(|source| ServeError::KeyFile {
                path: path.into(),
                source,
            })?;
            eprintln!(
                "Created organization {} with management account {}; its admin API key is in {} (mode 0600).",
                b.organization,
                b.account,
                path.display()
            );
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "Created organization {} with management account {}.",
                b.organization, b.account
            )?;
            writeln!(
                out,
                "Admin API key (shown only this once; keep it safe):\n\n    {}\n",
                b.token
            )?;
            writeln!(out, "Use it with: export MAMORI_KEY='{}'", b.token)?;
            out.flush()?;
        }
    }
    Ok(())
}

/// Runs the server until SIGINT/SIGTERM.
pub async fn serve(opts: ServeOptions) -> Result<(), ServeError> {
    let cfg = opts.config;
    let _lock = lock_data_dir(&cfg.data_dir)?;
    let metrics = telemetry::install().map_err(ServeError::Metrics)?;

    let org = Arc::new(Org::open(&cfg.data_dir)?);
    if let Some(b) = org.bootstrap()? {
        announce_bootstrap(&b, opts.bootstrap_key_file.as_deref())?;
    }
    let trail = Trail::open(&cfg.data_dir, &cfg.trail)?;
    let audit: Arc<dyn AuditSink> = Arc::new(TrailAudit {
        history: trail.history.clone(),
        region: cfg.trail.region.clone(),
    });

    let (org_id, management) = org.organization()?;
    let confinement =
        mamori_dest::Confinement::new(&cfg.destinations_root(), &cfg.server.s3_destinations)
            .map_err(|e| ServeError::DataDir {
                path: cfg.destinations_root(),
                message: e.to_string(),
            })?;
    let keyring = Arc::new(
        mamori_core::seal::Keyring::load(&cfg.kek_file(), &cfg.server.previous_kek_files).map_err(
            |e| ServeError::DataDir {
                path: cfg.kek_file(),
                message: e.to_string(),
            },
        )?,
    );
    let trails_db = Arc::new(mamori_trails::store::TrailsDb::open(
        &cfg.data_dir,
        keyring.clone(),
    )?);
    let engine = mamori_trails::deliver::Engine::new(
        trails_db,
        trail.history.clone(),
        org_id.as_str().to_string(),
        confinement.clone(),
    );

    // Inspection: stored inventories and the advisory database they are matched against
    // (`mamori inspect db import --db <data-dir>/advisories.db …` updates it; the server notices).
    let inspect = mamori_inspect::api::ApiState {
        store: {
            let st = mamori_inspect::store::InspectStore::open(&cfg.data_dir)?;
            let path = st.path().to_path_buf();
            Arc::new(mamori_core::service::Shared::new(st, &path))
        },
        advisories: Arc::new(std::sync::Mutex::new(mamori_inspect::db::AdvisoryDb::open(
            &cfg.data_dir.join("advisories.db"),
        )?)),
        audit: audit.clone(),
    };

    // Detection: events of enabled accounts through the detectors, from a committed cursor.
    let guard_cfg = mamori_guard::config::GuardConfig::from_table(&cfg.guard)
        .map_err(|e| ServeError::Guard(mamori_guard::store::GuardError::Invalid(e)))?;
    let org_accounts = org.clone();
    let accounts: mamori_guard::engine::Accounts = Arc::new(move || {
        org_accounts
            .accounts(None)
            .map(|v| v.iter().map(|a| a.id.as_i64()).collect())
            .unwrap_or_default()
    });
    let guard = mamori_guard::engine::Engine::new(
        mamori_guard::store::GuardDb::open(&cfg.data_dir, keyring)?,
        trail.history.clone(),
        management.as_i64(),
        guard_cfg,
        mamori_guard::engine::Outbound {
            destinations: confinement,
            allow_private_webhooks: cfg.server.allow_private_webhooks,
        },
        accounts.clone(),
    )?;
    let guard_api = mamori_guard::api::ApiState {
        engine: guard.clone(),
        audit: audit.clone(),
        management,
        accounts,
    };

    let audit_console = audit.clone();
    let api = Router::new()
        .merge(mamori_org::api::router(mamori_org::api::ApiState {
            org: org.clone(),
            audit: audit.clone(),
        }))
        .merge(mamori_trail::api::router(mamori_trail::api::ApiState {
            trail: trail.clone(),
            audit: audit.clone(),
        }))
        .merge(mamori_trails::api::router(mamori_trails::api::ApiState {
            engine: engine.clone(),
            audit: audit.clone(),
            management,
        }))
        .merge(mamori_inspect::api::router(inspect.clone()))
        .merge(mamori_guard::api::router(guard_api))
        .layer(axum::middleware::from_fn_with_state(
            org.clone(),
            auth::authenticate,
        ));
    // The console: the same services' library handles, its own sign-in; outside the bearer layer.
    let console = mamori_console::router(Arc::new(mamori_console::Console {
        org: org.clone(),
        trail: trail.clone(),
        trails: engine.clone(),
        guard: guard.clone(),
        inspect: inspect.store.clone(),
        advisories: inspect.advisories.clone(),
        audit: audit_console,
        management,
        sessions: Default::default(),
        events_per_day: Default::default(),
    }));
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .merge(console)
        .route(
            "/metrics",
            get(move || std::future::ready(metrics.render())),
        )
        .merge(api)
        .route_layer(axum::middleware::from_fn(telemetry::track))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; the API lives under /v1/<service>/…")
        })
        .layer(axum::middleware::from_fn(errors::json_errors));

    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| ServeError::Listen {
            addr: cfg.listen.clone(),
            source,
        })?;
    let local = listener.local_addr()?;
    eprintln!(
        "mamori listening on http://{local} (data in {})",
        cfg.data_dir.display()
    );

    let retention = tokio::spawn(retention_loop(trail.clone()));
    let delivery = tokio::spawn(engine.clone().run());
    let rematch = tokio::spawn(mamori_inspect::api::rematch_loop(inspect));
    let detection = tokio::spawn(guard.run());
    listen::serve(
        listener,
        app,
        listen::Limits {
            header_read_timeout: Duration::from_secs(cfg.server.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(cfg.server.body_read_timeout_secs.max(1)),
            max_connections: cfg.server.max_connections,
        },
        shutdown_signal(),
    )
    .await;
    retention.abort();
    delivery.abort();
    rematch.abort();
    detection.abort();
    let history = trail.history.clone();
    tokio::task::spawn_blocking(move || history.close())
        .await
        .ok();
    eprintln!("mamori stopped cleanly");
    Ok(())
}

/// Drops expired days at start and then hourly.
async fn retention_loop(trail: Arc<Trail>) {
    loop {
        let t = trail.clone();
        match tokio::task::spawn_blocking(move || t.history.retain_blocking(None)).await {
            Ok(Ok(r)) if !r.days_dropped.is_empty() => {
                tracing::info!(days = ?r.days_dropped, events = r.events_dropped, "retention dropped expired days");
            }
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed; will retry in an hour"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    eprintln!("mamori: shutting down (finishing requests in flight)");
}
