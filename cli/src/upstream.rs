//! A service's upstream resilience policy — balancing, retries, timeouts, health checks,
//! outlier detection, circuit breaker, concurrency limit — as plain data.
//!
//! The loader validates the manifest's `upstream` section into it, the IR carries it
//! unchanged, and emit writes it as a `openapi_gateway_runtime::upstream::Policy`. One set of
//! types for the three stages because it holds no YAML or OpenAPI type and nothing in it
//! is resolved later (like `http.rs`, shared by the stages).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Resilience {
    pub balance: Balance,
    /// One per URL, in order (1 when the manifest gives none).
    pub weights: Vec<u32>,
    pub total_timeout: Option<Duration>,
    pub retries: Retries,
    pub health_check: Option<HealthCheck>,
    pub outlier: Outlier,
    pub breaker: Option<Breaker>,
    /// 0: unlimited.
    pub max_in_flight: u32,
    /// `operations.<id>.timeouts`: (operationId, per try, in all), in manifest order.
    pub operations: Vec<(String, Option<Duration>, Option<Duration>)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    RoundRobin,
    Weighted,
    LeastRequests,
    ConsistentHash(HashOn),
}

impl Balance {
    pub fn describe(&self) -> String {
        match self {
            Balance::RoundRobin => "round_robin".into(),
            Balance::Weighted => "weighted".into(),
            Balance::LeastRequests => "least_requests".into(),
            Balance::ConsistentHash(on) => format!("consistent_hash on {}", on.describe()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// Lower-case header name.
    Header(String),
    Cookie(String),
    Ip,
}

impl HashOn {
    pub fn describe(&self) -> String {
        match self {
            HashOn::Header(name) => format!("header:{name}"),
            HashOn::Cookie(name) => format!("cookie:{name}"),
            HashOn::Ip => "ip".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retries {
    pub attempts: u32,
    pub budget_percent: u32,
    pub min_per_second: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for Retries {
    fn default() -> Retries {
        Retries {
            attempts: 1,
            budget_percent: 20,
            min_per_second: 3,
            backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(250),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
    /// Empty: any 2xx.
    pub expected_status: Vec<u16>,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outlier {
    /// 0: off.
    pub consecutive_failures: u32,
    pub base_ejection: Duration,
    pub max_ejection_percent: u32,
}

impl Default for Outlier {
    fn default() -> Outlier {
        Outlier {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection_percent: 50,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Breaker {
    pub failure_ratio: f64,
    pub min_requests: u32,
    pub window: Duration,
    pub consecutive_failures: u32,
    pub open_for: Duration,
    pub half_open_probes: u32,
}

impl Default for Resilience {
    fn default() -> Resilience {
        Resilience {
            balance: Balance::RoundRobin,
            weights: Vec::new(),
            total_timeout: None,
            retries: Retries::default(),
            health_check: None,
            outlier: Outlier::default(),
            breaker: None,
            max_in_flight: 0,
            operations: Vec::new(),
        }
    }
}

/// `1s`, `250ms`: the manifest's own spelling.
pub fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

impl Resilience {
    /// What `gateway routes` prints for a service, one `(label, text)` per line.
    pub fn summary(&self, connect: Duration, request: Duration) -> Vec<(&'static str, String)> {
        let mut lines = Vec::new();
        let mut balance = self.balance.describe();
        if self.weights.iter().any(|w| *w != 1) {
            let weights: Vec<String> = self.weights.iter().map(u32::to_string).collect();
            balance.push_str(&format!(" (weights {})", weights.join(", ")));
        }
        lines.push(("balance", balance));
        let mut timeouts = format!(
            "connect {}, per try {}, total {}",
            show_duration(connect),
            show_duration(request),
            self.total_timeout.map_or("unbounded".into(), show_duration)
        );
        for (operation, request, total) in &self.operations {
            timeouts.push_str(&format!("; {operation}:"));
            if let Some(request) = request {
                timeouts.push_str(&format!(" per try {}", show_duration(*request)));
            }
            if let Some(total) = total {
                timeouts.push_str(&format!(" total {}", show_duration(*total)));
            }
        }
        lines.push(("timeouts", timeouts));
        let r = &self.retries;
        lines.push((
            "retries",
            if r.attempts == 0 {
                "none".into()
            } else {
                format!(
                    "up to {} (budget {}% + {}/s, back-off {}..{})",
                    r.attempts,
                    r.budget_percent,
                    r.min_per_second,
                    show_duration(r.backoff),
                    show_duration(r.max_backoff)
                )
            },
        ));
        lines.push((
            "health check",
            match &self.health_check {
                None => "none".into(),
                Some(h) => format!(
                    "GET {} every {} (timeout {}, status {}, healthy after {}, unhealthy after {})",
                    h.path,
                    show_duration(h.interval),
                    show_duration(h.timeout),
                    if h.expected_status.is_empty() {
                        "2xx".to_owned()
                    } else {
                        h.expected_status
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join("|")
                    },
                    h.healthy_threshold,
                    h.unhealthy_threshold
                ),
            },
        ));
        let o = &self.outlier;
        lines.push((
            "outliers",
            if o.consecutive_failures == 0 {
                "not ejected".into()
            } else {
                format!(
                    "ejected after {} consecutive failures for {} x ejections, at most {}% at once",
                    o.consecutive_failures,
                    show_duration(o.base_ejection),
                    o.max_ejection_percent
                )
            },
        ));
        lines.push((
            "breaker",
            match &self.breaker {
                None => "none".into(),
                Some(b) => {
                    let mut trips = Vec::new();
                    if b.min_requests > 0 {
                        trips.push(format!(
                            "{}% failures of >= {} in {}",
                            (b.failure_ratio * 100.0).round(),
                            b.min_requests,
                            show_duration(b.window)
                        ));
                    }
                    if b.consecutive_failures > 0 {
                        trips.push(format!("{} failures in a row", b.consecutive_failures));
                    }
                    format!(
                        "opens on {}; open {}, then {} probe(s)",
                        trips.join(" or "),
                        show_duration(b.open_for),
                        b.half_open_probes
                    )
                }
            },
        ));
        lines.push((
            "max in flight",
            if self.max_in_flight == 0 {
                "unlimited".into()
            } else {
                self.max_in_flight.to_string()
            },
        ));
        lines
    }

    /// The timeouts of one operation: per try and in all (`None`: unbounded).
    pub fn timeouts_of(&self, operation: &str, request: Duration) -> (Duration, Option<Duration>) {
        match self.operations.iter().find(|(id, _, _)| id == operation) {
            Some((_, own_request, own_total)) => (
                own_request.unwrap_or(request),
                own_total.or(self.total_timeout),
            ),
            None => (request, self.total_timeout),
        }
    }
}
