//! The calls and the indexes that find them: by the trunk's Call-ID, by an
//! outbound leg's Call-ID, by the trunk INVITE's server transaction (for
//! CANCEL and the ACK timeout) and by case id (for commands). Every index
//! is kept by the table itself, so removing a call cannot leave one behind.

use super::leg::{Dialog, Leg, LegState, Role};
use crate::acd::{CallId, QueueId};
use crate::caselog::CaseId;
use crate::sip::rsip::Request;
use crate::transaction::TxKey;
use foldhash::{HashMap, HashMapExt};
use std::time::Instant;

/// Where a call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// Waiting in a queue (maybe ringing seats).
    Waiting,
    /// An outbound leg answered; the trunk has our 200 and owes an ACK.
    Answered,
    Talking,
}

/// One call: the trunk leg and its outbound legs.
#[derive(Debug)]
pub struct Call {
    pub case: CaseId,
    pub state: CallState,
    /// The trunk's INVITE as received (responses echo it).
    pub invite: Request,
    pub invite_tx: TxKey,
    /// The trunk leg's dialog (its role is [`Role::Trunk`]).
    pub trunk: Dialog,
    pub trunk_name: String,
    pub caller: String,
    pub called: String,
    pub service: String,
    pub queue: QueueId,
    pub priority: i32,
    pub arrived: Instant,
    pub answered_at: Option<Instant>,
    /// Outbound legs: the seats ringing (several under ring-all) or the
    /// overflow target; once one answers, it is the only one.
    pub legs: Vec<Leg>,
    /// max_wait passed while seats rang: overflow when they are withdrawn.
    pub overdue: bool,
    /// A re-INVITE we relayed on this call awaits its answer (glare).
    pub reinvite_pending: bool,
    /// The call's relayed media (None: bridged end to end).
    pub media: Option<super::media::CallMedia>,
    /// We answered the trunk (200) before a seat did, to play prompts to a
    /// trunk that takes no early media.
    pub trunk_answered: bool,
    /// What an operator classified the call as.
    pub class: Option<String>,
    pub offers: u32,
    /// A text call's conversation (None: a voice call).
    pub text: Option<Box<super::text::TextChat>>,
}

impl Call {
    pub fn answered_leg(&self) -> Option<&Leg> {
        self.legs.iter().find(|l| l.state == LegState::Answered)
    }

    pub fn answered_leg_mut(&mut self) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.state == LegState::Answered)
    }

    pub fn leg(&self, gen: u32) -> Option<&Leg> {
        self.legs.iter().find(|l| l.gen == gen)
    }

    pub fn leg_mut(&mut self, gen: u32) -> Option<&mut Leg> {
        self.legs.iter_mut().find(|l| l.gen == gen)
    }

    /// The call is with the overflow target (ringing or answered).
    pub fn overflowed(&self) -> bool {
        self.legs.iter().any(|l| l.role == Role::Overflow)
    }

    pub fn is_waiting(&self) -> bool {
        self.state == CallState::Waiting
    }
}

/// The call table.
#[derive(Debug, Default)]
pub struct Calls {
    map: HashMap<CallId, Call>,
    by_trunk: HashMap<String, CallId>,
    by_leg: HashMap<String, CallId>,
    by_invite_tx: HashMap<TxKey, CallId>,
    by_case: HashMap<CaseId, CallId>,
}

impl Calls {
    pub fn new() -> Calls {
        Calls {
            map: HashMap::new(),
            by_trunk: HashMap::new(),
            by_leg: HashMap::new(),
            by_invite_tx: HashMap::new(),
            by_case: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Sizes of every index (for leak checks): calls, trunk Call-IDs, leg
    /// Call-IDs, INVITE transactions, case ids.
    pub fn sizes(&self) -> [usize; 5] {
        [
            self.map.len(),
            self.by_trunk.len(),
            self.by_leg.len(),
            self.by_invite_tx.len(),
            self.by_case.len(),
        ]
    }

    pub fn insert(&mut self, id: CallId, call: Call) {
        self.by_trunk.insert(call.trunk.call_id.clone(), id);
        self.by_invite_tx.insert(call.invite_tx.clone(), id);
        self.by_case.insert(call.case.clone(), id);
        for l in &call.legs {
            self.by_leg.insert(l.dialog.call_id.clone(), id);
        }
        self.map.insert(id, call);
    }

    /// Removes a call and every index entry that names it.
    pub fn remove(&mut self, id: CallId) -> Option<Call> {
        let c = self.map.remove(&id)?;
        self.by_trunk.remove(&c.trunk.call_id);
        self.by_invite_tx.remove(&c.invite_tx);
        self.by_case.remove(&c.case);
        for l in &c.legs {
            self.by_leg.remove(&l.dialog.call_id);
        }
        Some(c)
    }

    pub fn get(&self, id: CallId) -> Option<&Call> {
        self.map.get(&id)
    }

    pub fn get_mut(&mut self, id: CallId) -> Option<&mut Call> {
        self.map.get_mut(&id)
    }

    /// Adds an outbound leg to a call (and its Call-ID to the index).
    pub fn add_leg(&mut self, id: CallId, leg: Leg) {
        if let Some(c) = self.map.get_mut(&id) {
            self.by_leg.insert(leg.dialog.call_id.clone(), id);
            c.legs.push(leg);
        }
    }

    /// Takes an outbound leg out of a call (and out of the index).
    pub fn take_leg(&mut self, id: CallId, gen: u32) -> Option<Leg> {
        let c = self.map.get_mut(&id)?;
        let i = c.legs.iter().position(|l| l.gen == gen)?;
        let leg = c.legs.swap_remove(i);
        self.by_leg.remove(&leg.dialog.call_id);
        Some(leg)
    }

    /// The call whose trunk leg has this Call-ID.
    pub fn by_trunk(&self, call_id: &str) -> Option<CallId> {
        self.by_trunk.get(call_id).copied()
    }

    /// The call with an outbound leg of this Call-ID.
    pub fn by_leg(&self, call_id: &str) -> Option<CallId> {
        self.by_leg.get(call_id).copied()
    }

    /// The call of a trunk INVITE server transaction (for its CANCEL, and
    /// its ACK timeout after we answered it).
    pub fn by_invite_tx(&self, key: &TxKey) -> Option<CallId> {
        self.by_invite_tx.get(key).copied()
    }

    pub fn by_case(&self, case: &CaseId) -> Option<CallId> {
        self.by_case.get(case).copied()
    }
}
