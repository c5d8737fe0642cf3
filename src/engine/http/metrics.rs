//! `/metrics`: Prometheus text, names prefixed `siaga112_`. Call figures are
//! counted from the core's events as the HTTP side receives them (the SIP
//! path does no work for them); SIP counters are read from the atomics the
//! run loop publishes; the case log reports each commit.

use super::super::EngineStats;
use crate::caselog::{Kind, Record};
use crate::operator::Event;
use crate::view::View;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::Ordering;

type Labels = Vec<(&'static str, String)>;
type HistFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Waits to answer, in seconds: fine around NENA's 10/15/20 s.
const WAIT_BUCKETS: [f64; 13] = [
    1.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 300.0, 600.0,
];
/// Case-log commit (write + fsync) times, in seconds.
const COMMIT_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

fn wait_histogram() -> Histogram {
    Histogram::new(WAIT_BUCKETS)
}

pub struct Metrics {
    registry: Registry,
    calls_opened: Family<Labels, Counter>,
    calls_ended: Family<Labels, Counter>,
    classified: Family<Labels, Counter>,
    waiting: Family<Labels, Gauge>,
    answer_wait: HistFamily,
    seats: Family<Labels, Gauge>,
    calls_live: Gauge,
    sip_received: Counter,
    sip_sent: Counter,
    sip_rejected: Counter,
    sip_dropped: Counter,
    sip_retransmissions: Counter,
    pub caselog_commit: Histogram,
    pub caselog_records: Counter,
    caselog_alarm: Gauge,
    caselog_buffered: Gauge,
    caselog_lost: Counter,
    pub console_sessions: Gauge,
    pub console_logins: Family<Labels, Counter>,
    pub console_commands: Family<Labels, Counter>,
    security: super::security_metrics::SecurityMetrics,
}

impl Metrics {
    /// Metrics for a centre with these queues: each has its waiting gauge
    /// (0) from the start, so the first scrape already shows every queue.
    pub fn with_queues<'a>(queues: impl IntoIterator<Item = &'a str>) -> Metrics {
        let m = Metrics::new();
        for q in queues {
            m.waiting
                .get_or_create(&vec![("queue", q.to_string())])
                .set(0);
        }
        m
    }

    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("siaga112");
        let m = Metrics {
            registry: Registry::default(),
            calls_opened: Family::default(),
            calls_ended: Family::default(),
            classified: Family::default(),
            waiting: Family::default(),
            answer_wait: Family::new_with_constructor(wait_histogram),
            seats: Family::default(),
            calls_live: Gauge::default(),
            sip_received: Counter::default(),
            sip_sent: Counter::default(),
            sip_rejected: Counter::default(),
            sip_dropped: Counter::default(),
            sip_retransmissions: Counter::default(),
            caselog_commit: Histogram::new(COMMIT_BUCKETS),
            caselog_records: Counter::default(),
            caselog_alarm: Gauge::default(),
            caselog_buffered: Gauge::default(),
            caselog_lost: Counter::default(),
            console_sessions: Gauge::default(),
            console_logins: Family::default(),
            console_commands: Family::default(),
            security: Default::default(),
        };
        m.security.register(&mut r);
        r.register(
            "calls_opened",
            "Calls that reached the engine, by service dialled",
            m.calls_opened.clone(),
        );
        r.register(
            "calls",
            "Calls ended, by queue and outcome (completed, abandoned, overflowed, failed, media-timeout)",
            m.calls_ended.clone(),
        );
        r.register(
            "cases_classified",
            "Classes operators set, by class",
            m.classified.clone(),
        );
        r.register(
            "calls_waiting",
            "Calls not yet answered, by queue",
            m.waiting.clone(),
        );
        r.register_with_unit(
            "answer_wait",
            "Time from arrival to answer of answered calls, by queue",
            Unit::Seconds,
            m.answer_wait.clone(),
        );
        r.register("seats", "Seats by state", m.seats.clone());
        r.register("calls_live", "Calls in progress", m.calls_live.clone());
        r.register(
            "sip_received",
            "SIP messages received",
            m.sip_received.clone(),
        );
        r.register("sip_sent", "SIP messages sent", m.sip_sent.clone());
        r.register(
            "sip_rejected",
            "SIP requests answered with an error (4xx-6xx) by the engine itself",
            m.sip_rejected.clone(),
        );
        r.register(
            "sip_dropped",
            "SIP messages dropped unanswered (malformed, stray responses, ACKs to nothing)",
            m.sip_dropped.clone(),
        );
        r.register(
            "sip_retransmissions_absorbed",
            "Retransmissions answered from the transaction layer",
            m.sip_retransmissions.clone(),
        );
        r.register_with_unit(
            "caselog_commit",
            "Case-log commit (write and fsync of one batch) time",
            Unit::Seconds,
            m.caselog_commit.clone(),
        );
        r.register(
            "caselog_records",
            "Case-log records made durable",
            m.caselog_records.clone(),
        );
        r.register(
            "caselog_alarm",
            "1 while the case log cannot write (records are kept in memory)",
            m.caselog_alarm.clone(),
        );
        r.register(
            "caselog_buffered",
            "Case-log records kept in memory, not yet on disk",
            m.caselog_buffered.clone(),
        );
        r.register(
            "caselog_lost",
            "Case-log records lost (the buffer overflowed while the disk failed; named in a lost record)",
            m.caselog_lost.clone(),
        );
        r.register(
            "console_sessions",
            "Console event streams open (browsers watching)",
            m.console_sessions.clone(),
        );
        r.register(
            "console_logins",
            "Console sign-ins, by result (ok, refused, limited)",
            m.console_logins.clone(),
        );
        r.register(
            "console_commands",
            "Console commands, by result (ok or the error code)",
            m.console_commands.clone(),
        );
        Metrics { registry: r, ..m }
    }

    /// Counts what one live event says (never called for replayed records).
    pub fn event(&self, e: &Event, view: &View) {
        match e {
            Event::Case(r) => self.record(r, view),
            Event::Queue(_) | Event::Seat(_) | Event::Call(_) | Event::Bans(_) => {}
        }
    }

    fn record(&self, r: &Record, view: &View) {
        match &r.kind {
            Kind::Opened { service, .. } => {
                self.calls_opened
                    .get_or_create(&vec![("service", service.clone())])
                    .inc();
            }
            Kind::Ended {
                reason,
                wait_ms,
                queue,
                ..
            } => {
                let case = r.case.as_ref().and_then(|c| view.case(c));
                let queue = queue
                    .clone()
                    .or_else(|| case.map(|c| c.queue.clone()))
                    .unwrap_or_default();
                self.calls_ended
                    .get_or_create(&vec![
                        ("queue", queue.clone()),
                        ("outcome", reason.as_str().to_string()),
                    ])
                    .inc();
                if case.is_some_and(|c| c.answered) {
                    self.answer_wait
                        .get_or_create(&vec![("queue", queue)])
                        .observe(*wait_ms as f64 / 1000.0);
                }
            }
            Kind::Classified { class, .. } => {
                self.classified
                    .get_or_create(&vec![("class", class.clone())])
                    .inc();
            }
            _ => {}
        }
    }

    /// The text for a scrape: gauges read from the view and the engine's
    /// counters brought up to date first.
    pub fn render(
        &self,
        view: &View,
        stats: &EngineStats,
        journal: &crate::caselog::JournalHandle,
    ) -> String {
        self.caselog_alarm.set(i64::from(journal.failing()));
        self.caselog_buffered
            .set(i64::try_from(journal.buffered()).unwrap_or(i64::MAX));
        let lost = journal.lost();
        if lost > self.caselog_lost.get() {
            self.caselog_lost.inc_by(lost - self.caselog_lost.get());
        }
        for phase in [
            "logged-out",
            "available",
            "ringing",
            "on-call",
            "wrap-up",
            "paused",
        ] {
            let n = view
                .seats
                .values()
                .filter(|s| s.phase.as_str() == phase)
                .count();
            self.seats
                .get_or_create(&vec![("state", phase.to_string())])
                .set(n as i64);
        }
        self.calls_live.set(view.calls.len() as i64);
        for q in view.queues.values() {
            self.waiting
                .get_or_create(&vec![("queue", q.queue.to_string())])
                .set(i64::from(q.waiting));
        }
        let sync = |c: &Counter, v: &std::sync::atomic::AtomicU64| {
            let now = v.load(Ordering::Relaxed);
            let had = c.get();
            if now > had {
                c.inc_by(now - had);
            }
        };
        sync(&self.sip_received, &stats.received);
        sync(&self.sip_sent, &stats.sent);
        sync(&self.sip_rejected, &stats.rejected);
        sync(&self.sip_dropped, &stats.dropped);
        sync(&self.sip_retransmissions, &stats.retransmissions_absorbed);
        self.security.sync(&stats.security);
        let mut out = String::with_capacity(8192);
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
