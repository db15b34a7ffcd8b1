//! Several PostgreSQL hosts in one URL, as libpq takes them: `postgres://USER@HOST1:PORT1,
//! HOST2:PORT2/DB?target_session_attrs=read-write`. sqlx connects to one host; this module
//! finds the primary among the hosts, keeps the pool's connections on it, and moves the pool to
//! the new primary when a standby is promoted.
//!
//! - At start-up the hosts are tried in order and the first that is not in recovery
//!   (`pg_is_in_recovery()` false) is used; the start fails if none is.
//! - With `target_session_attrs=read-write` (or several hosts), every new connection checks that
//!   its server is a primary, and is refused otherwise: a write never lands on a standby.
//! - A watcher checks the pool's host every [`WATCH_EVERY`]; when it no longer answers or is in
//!   recovery, it looks for the primary among the hosts and points the pool's new connections
//!   at it (`Pool::set_connect_options`). Connections to the old host fail their next use or
//!   their check before acquisition; the calls that used them fail with `UNAVAILABLE`, which
//!   clients retry with the same request id (idempotent).

use std::{str::FromStr, time::Duration};

use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use super::StoreError;

/// How often the watcher checks that the pool's host is still the primary.
pub const WATCH_EVERY: Duration = Duration::from_millis(500);

/// How long one host may take to answer a probe.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a URL asks for.
#[derive(Debug, Clone)]
pub struct Targets {
    /// One set of options per host, in the URL's order.
    pub hosts: Vec<PgConnectOptions>,
    /// Only a primary will do (`target_session_attrs=read-write`, or several hosts).
    pub read_write: bool,
}

/// Splits a (possibly multi-host) URL into one URL per host.
///
/// # Errors
/// [`StoreError::BadUrl`] for a URL that is not `postgres://...`, or a bad host list.
pub fn parse(url: &str) -> Result<Targets, StoreError> {
    let bad = || StoreError::BadUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (userinfo, hostlist) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    // The query without target_session_attrs, which this module implements.
    let (path, query) = tail.split_once('?').unwrap_or((tail, ""));
    let mut read_write = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter(|kv| match kv.split_once('=') {
            Some(("target_session_attrs", v)) => {
                read_write = v == "read-write" || v == "primary";
                false
            }
            _ => true,
        })
        .collect();
    let query = if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    };
    let hosts: Vec<&str> = hostlist.split(',').collect();
    if hosts.iter().any(|h| h.is_empty()) {
        return Err(bad());
    }
    let hosts = hosts
        .iter()
        .map(|h| {
            let user = userinfo.map(|u| format!("{u}@")).unwrap_or_default();
            PgConnectOptions::from_str(&format!("{scheme}://{user}{h}{path}{query}"))
                .map_err(|_| bad())
        })
        .collect::<Result<Vec<_>, _>>()?;
    read_write |= hosts.len() > 1;
    Ok(Targets { hosts, read_write })
}

/// `host:port` of a set of options, for logs.
pub fn name(o: &PgConnectOptions) -> String {
    format!("{}:{}", o.get_host(), o.get_port())
}

/// Whether this host answers and is a primary.
async fn is_primary(o: &PgConnectOptions) -> bool {
    let probe = async {
        let mut c = PgConnection::connect_with(o).await.ok()?;
        let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut c)
            .await
            .ok()?;
        let _ = c.close().await;
        Some(!standby)
    };
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, probe).await,
        Ok(Some(true))
    )
}

/// The first host that is a primary.
pub async fn find_primary(hosts: &[PgConnectOptions]) -> Option<PgConnectOptions> {
    for o in hosts {
        if is_primary(o).await {
            return Some(o.clone());
        }
    }
    None
}

/// Pool options that refuse connections to a standby when `read_write`.
pub fn pool_options(max_connections: u32, read_write: bool) -> PgPoolOptions {
    let options = PgPoolOptions::new().max_connections(max_connections.max(1));
    if !read_write {
        return options;
    }
    options
        // A caller waits at most this long for a connection during a switch, then gets
        // UNAVAILABLE and retries.
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _| {
            Box::pin(async move {
                let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                    .fetch_one(&mut *conn)
                    .await?;
                if standby {
                    return Err(sqlx::Error::Protocol(
                        "this PostgreSQL is a standby; aspflow writes only to the primary \
                         (target_session_attrs=read-write)"
                            .into(),
                    ));
                }
                Ok(())
            })
        })
}

/// Keeps `pool` on the primary among `hosts` until the pool is closed.
pub async fn watch(pool: PgPool, hosts: Vec<PgConnectOptions>) {
    while !pool.is_closed() {
        tokio::time::sleep(WATCH_EVERY).await;
        let current = pool.connect_options();
        let healthy = async {
            let mut c = pool.acquire().await.ok()?;
            let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
                .fetch_one(&mut *c)
                .await
                .ok()?;
            Some(!standby)
        };
        if matches!(
            tokio::time::timeout(PROBE_TIMEOUT, healthy).await,
            Ok(Some(true))
        ) {
            continue;
        }
        match find_primary(&hosts).await {
            Some(primary) if name(&primary) != name(&current) => {
                tracing::warn!(
                    from = %name(&current),
                    to = %name(&primary),
                    "the PostgreSQL primary moved: new connections go to the new primary"
                );
                pool.set_connect_options(primary);
            }
            Some(_) => {}
            None => tracing::warn!(
                hosts = %hosts.iter().map(name).collect::<Vec<_>>().join(","),
                "no PostgreSQL primary answers; retrying"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{name, parse};

    #[test]
    fn multi_host_urls_split_into_one_per_host() {
        let t = parse(
            "postgres://aspflow@10.0.0.1:5433,10.0.0.2:5434/asp?target_session_attrs=read-write&sslmode=disable",
        )
        .unwrap();
        assert!(t.read_write);
        let names: Vec<String> = t.hosts.iter().map(name).collect();
        assert_eq!(names, ["10.0.0.1:5433", "10.0.0.2:5434"]);
        assert_eq!(t.hosts[1].get_database(), Some("asp"));
        assert_eq!(t.hosts[1].get_username(), "aspflow");
        let one = parse("postgres://root@127.0.0.1:5432/test").unwrap();
        assert!(!one.read_write);
        assert_eq!(one.hosts.len(), 1);
        assert!(parse("postgres://a@h1,,h2/db").is_err());
    }
}
