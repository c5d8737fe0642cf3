//! Case records (interim types; the journal lands with the case-log module).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CaseId(pub String);

impl std::fmt::Display for CaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone)]
pub struct CaseIds {
    boot: u32,
    seq: u64,
}

impl CaseIds {
    pub fn new(boot: u32) -> CaseIds {
        CaseIds { boot, seq: 0 }
    }
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> CaseId {
        self.seq += 1;
        CaseId(format!("{:04}-{:06}", self.boot, self.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    Completed,
    Abandoned,
    Overflowed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Boot {
        boot: u32,
    },
    Opened {
        caller: String,
        called: String,
        service: String,
        trunk: String,
    },
    Queued {
        queue: String,
        priority: i32,
    },
    Offered {
        seat: String,
    },
    Answered {
        seat: String,
    },
    Overflowed {
        target: String,
    },
    Ended {
        reason: EndReason,
        wait_ms: u64,
        talk_ms: u64,
        seat: Option<String>,
        queue: Option<String>,
    },
    Outcome {
        mark: String,
    },
    Seat {
        seat: String,
        state: String,
        reason: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub time_ms: u64,
    pub case: Option<CaseId>,
    pub event: Event,
}
