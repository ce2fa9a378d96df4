//! The shared state every handler, job and engine receives.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::db::{Db, MigrationSet};
use crate::mail::Mailer;
use crate::ratelimit::RateLimiter;
use crate::realtime::EventBus;
use crate::redis::Redis;

#[derive(Clone)]
pub struct Platform(Arc<PlatformInner>);

pub struct PlatformInner {
    pub config: Config,
    pub db: Db,
    pub clock: SharedClock,
    pub secret: SecretKey,
    pub bus: EventBus,
    pub limiter: RateLimiter,
    pub mailer: Mailer,
    pub redis: Option<Redis>,
    /// Wakes this node's job worker when a job is enqueued here.
    pub job_wake: Arc<Notify>,
    pub metrics: PrometheusHandle,
    /// The guarded client for every outgoing HTTP request.
    pub outbound: crate::outbound::Outbound,
}

impl Deref for Platform {
    type Target = PlatformInner;

    fn deref(&self) -> &PlatformInner {
        &self.0
    }
}

/// The platform's own schema.
pub static MIGRATIONS: MigrationSet =
    crate::migrations!("platform", "0001_platform" => 1001, "0002_job_subjects" => 1002, "0003_user_time_zone" => 1003)
        .never_reusing_ids(&[
            "users",
            "teams",
            "sessions",
            "api_tokens",
            "password_resets",
        ]);

impl Platform {
    /// Connects to the database (applying `migrations` after the platform's own) and to Redis.
    pub async fn start(
        config: Config,
        clock: SharedClock,
        migrations: &[&MigrationSet],
    ) -> anyhow::Result<Self> {
        crate::crypto::install_tls_provider();
        let secret = config
            .load_secret()
            .context("could not read or create the secret key file")?;
        let exposed = crate::files::readable_by_others(&config.data_dir);
        if !exposed.is_empty() {
            tracing::warn!(
                paths = %exposed.join(", "),
                "files in the data directory are readable by other users of this machine; \
                 restrict them with `chmod -R go= {}`",
                config.data_dir.display()
            );
        }
        let db = Db::connect(
            &config.database_url,
            config.backend,
            config.database_max_connections,
        )
        .await
        .context("could not open the database")?;
        let mut sets = vec![&MIGRATIONS];
        sets.extend_from_slice(migrations);
        db.migrate(&sets)
            .await
            .context("database migration failed")?;

        let redis = match &config.redis_url {
            Some(url) => Some(
                Redis::connect(url, &config.redis_prefix)
                    .await
                    .context("could not connect to Redis (KEEL_REDIS_URL)")?,
            ),
            None => None,
        };
        let bus = match &redis {
            Some(redis) => EventBus::with_redis(redis.clone()),
            None => EventBus::in_process(),
        };
        let mailer = Mailer::new(
            config.smtp_url.as_deref(),
            config.mail_from.clone(),
            &config.data_dir,
        )
        .map_err(anyhow::Error::msg)?;
        let outbound = crate::outbound::Outbound::new(
            crate::outbound::AddressPolicy {
                allowed: config.outbound_allowed_networks.clone(),
            },
            "keel",
        );
        Ok(Self(Arc::new(PlatformInner {
            outbound,
            limiter: RateLimiter::new(clock.clone(), redis.clone()),
            metrics: crate::observability::prometheus(),
            config,
            db,
            clock,
            secret,
            bus,
            mailer,
            redis,
            job_wake: Arc::new(Notify::new()),
        })))
    }

    pub fn now(&self) -> crate::domain::Timestamp {
        self.clock.now()
    }

    /// The one-time token that guards the first-run setup page. Derived from the secret key,
    /// so every node of a cluster prints the same one; useless once a user exists.
    pub fn setup_token(&self) -> String {
        hex::encode(&self.secret.derive("first-run setup")[..12])
    }
}
