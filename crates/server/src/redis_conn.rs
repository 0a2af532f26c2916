//! The Redis connection every shared component (rate limits, cache) uses when `REDIS_URL` is
//! set. One multiplexed connection per process, re-established by itself after a failure;
//! every command has a short timeout, so an unreachable Redis costs a request milliseconds,
//! never a hang. Callers fall back to their in-process versions while it is away.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::config::redact_url;

/// How long one Redis command may take before the caller treats Redis as unreachable.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A handle on the shared Redis, with the prefix every key of this deployment starts with.
#[derive(Clone)]
pub struct Redis {
    pub connection: ConnectionManager,
    /// `MISSIVE_REDIS_PREFIX` followed by `:`; lets deployments (or tests) share one Redis.
    pub prefix: String,
}

impl Redis {
    /// Prepares the connection without waiting for it: the service starts (degraded) even
    /// when Redis is down, and connects once it is reachable.
    pub fn connect(url: &str, prefix: &str) -> Result<Self, String> {
        let client =
            redis::Client::open(url).map_err(|err| format!("{}: {err}", redact_url(url)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|err| format!("{}: {err}", redact_url(url)))?;
        Ok(Self {
            connection,
            prefix: format!("{prefix}:"),
        })
    }

    /// A key of this deployment.
    pub fn key(&self, parts: std::fmt::Arguments<'_>) -> String {
        format!("{}{parts}", self.prefix)
    }
}
