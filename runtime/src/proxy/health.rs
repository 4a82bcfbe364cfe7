//! Active health checks: a background task per service that sends `GET <path>` to every
//! instance each interval and flips the instance's verdict after `healthy_threshold`
//! consecutive passes or `unhealthy_threshold` consecutive failures. Instances start
//! healthy, so a gateway serves at once instead of waiting for a first round.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::header::{self, HeaderValue};
use tokio::task::JoinHandle;

use super::instance::Instance;
use super::policy::HealthCheck;
use super::upstream::{Upstream, Upstreams};
use crate::base::bodies::LimitedBody;

/// The running checks of one service; stops them when dropped.
#[derive(Debug)]
pub(crate) struct Checker(JoinHandle<()>);

impl Drop for Checker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Checker {
    pub(crate) fn spawn(upstreams: Arc<Upstreams>, service: usize) -> Option<Checker> {
        let config = upstreams.get(service)?.policy().health_check?;
        Some(Checker(tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(upstream) = upstreams.get(service) else {
                    return;
                };
                let snapshot = upstream.snapshot();
                let checks = snapshot.entries.iter().map(|entry| {
                    let instance = entry.instance.clone();
                    async move {
                        let passed = check(upstream, &instance, &config).await;
                        verdict(upstream.service.name, &instance, &config, passed);
                    }
                });
                futures_util::future::join_all(checks).await;
            }
        })))
    }
}

/// One check: whether the answer came in time with an expected status.
async fn check(upstream: &Upstream, instance: &Instance, config: &HealthCheck) -> bool {
    let Some(uri) = instance.uri(config.path, None) else {
        return false;
    };
    let mut request = http::Request::new(LimitedBody::empty());
    *request.uri_mut() = uri;
    request
        .headers_mut()
        .insert(header::HOST, instance.host.clone());
    request.headers_mut().insert(
        header::USER_AGENT,
        HeaderValue::from_static("gateway-health-check"),
    );
    match tokio::time::timeout(config.timeout, upstream.client.request(request)).await {
        Ok(Ok(response)) => {
            let status = response.status().as_u16();
            if config.expected_status.is_empty() {
                (200..300).contains(&status)
            } else {
                config.expected_status.contains(&status)
            }
        }
        _ => false,
    }
}

fn verdict(service: &str, instance: &Instance, config: &HealthCheck, passed: bool) {
    let (streak, other) = if passed {
        (&instance.check_passes, &instance.check_failures)
    } else {
        (&instance.check_failures, &instance.check_passes)
    };
    other.store(0, Ordering::Relaxed);
    let count = streak.fetch_add(1, Ordering::Relaxed) + 1;
    let healthy = instance.healthy.load(Ordering::Relaxed);
    if passed && !healthy && count >= config.healthy_threshold.max(1) {
        instance.healthy.store(true, Ordering::Relaxed);
        tracing::info!(
            service,
            upstream = instance.name(),
            "instance healthy again"
        );
    } else if !passed && healthy && count >= config.unhealthy_threshold.max(1) {
        instance.healthy.store(false, Ordering::Relaxed);
        tracing::warn!(
            service,
            upstream = instance.name(),
            "instance failed its health checks"
        );
    }
}

/// Starts the active health checks of every service that has them; they end when the
/// returned handles are dropped.
pub(crate) fn spawn_health_checks(upstreams: &Arc<Upstreams>) -> Vec<Checker> {
    (0..upstreams.len())
        .filter_map(|index| Checker::spawn(upstreams.clone(), index))
        .collect()
}
