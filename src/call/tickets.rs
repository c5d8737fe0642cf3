//! Tickets: a case handed to an agency, and the steps of its life (sent,
//! acknowledged, on scene, closed or cancelled). The core holds the
//! tickets of cases not yet closed (loaded from the store at start), so
//! that every step is checked against the one before; a case is closed
//! (a `closed` record) once its call is over and every ticket is final.

use super::B2bua;
use crate::caselog::{Brief, CaseId, Kind, TicketStatus};
use crate::operator::{Actor, CommandError, Done, Role};
use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// The tickets of cases not closed yet.
#[derive(Debug, Default)]
pub(super) struct Tickets {
    by_case: HashMap<CaseId, BTreeMap<String, TicketStatus>>,
}

impl Tickets {
    fn status(&self, case: &CaseId, agency: &str) -> Option<TicketStatus> {
        self.by_case.get(case)?.get(agency).copied()
    }

    /// Whether the case has tickets and all of them are final.
    fn all_final(&self, case: &CaseId) -> bool {
        self.by_case
            .get(case)
            .is_some_and(|t| !t.is_empty() && t.values().all(|s| s.is_final()))
    }
}

impl B2bua {
    /// The tickets of cases not closed yet, from the store at start.
    pub fn load_tickets(
        &mut self,
        tickets: impl IntoIterator<Item = (CaseId, String, TicketStatus)>,
    ) {
        for (case, agency, status) in tickets {
            self.tickets
                .by_case
                .entry(case)
                .or_default()
                .insert(agency, status);
        }
    }

    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        by: &Actor,
        case: CaseId,
        agency: String,
        note: Option<String>,
        mut brief: Brief,
    ) -> Result<Done, CommandError> {
        if !self.cfg.agencies.iter().any(|a| a.id == agency) {
            return Err(CommandError::UnknownTicket);
        }
        let known = self.case_of(by, None, &case);
        match (&by.role, &known) {
            (_, Some((_, caller))) => brief.caller.clone_from(caller),
            // A supervisor may hand on a case of an earlier day, which only
            // the store (and so the console's brief) still knows.
            (Role::Supervisor, None) if brief.opened_ms > 0 => {}
            _ => return Err(CommandError::UnknownCase),
        }
        if let Some(s) = self
            .tickets
            .status(&case, &agency)
            .filter(|s| !s.is_final())
        {
            return Err(CommandError::WrongState(s.as_str().into()));
        }
        if brief.class.is_none() {
            brief.class = self.class_of(&case);
        }
        self.tickets
            .by_case
            .entry(case.clone())
            .or_default()
            .insert(agency.clone(), TicketStatus::Sent);
        tracing::info!(case = %case, %agency, by = %by.user, "ticket sent");
        self.record(
            now,
            Some(case.clone()),
            Kind::Ticket {
                agency: agency.clone(),
                status: TicketStatus::Sent,
                by: by.user.clone(),
                note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                brief: Some(Box::new(brief)),
            },
        );
        Ok(Done::Ticket {
            case,
            agency,
            status: TicketStatus::Sent,
        })
    }

    pub(super) fn ticket_step(
        &mut self,
        now: Instant,
        by: &Actor,
        case: CaseId,
        agency: String,
        status: TicketStatus,
        note: Option<String>,
    ) -> Result<Done, CommandError> {
        let current = self
            .tickets
            .status(&case, &agency)
            .ok_or(CommandError::UnknownTicket)?;
        if let Role::Operator { .. } = by.role {
            // An operator cancels only a ticket of a case its seat had.
            self.case_of(by, None, &case)
                .ok_or(CommandError::NotAllowed)?;
        }
        let forward = status == TicketStatus::Cancelled || status > current;
        if current.is_final() || !forward {
            return Err(CommandError::WrongState(current.as_str().into()));
        }
        if let Some(t) = self.tickets.by_case.get_mut(&case) {
            t.insert(agency.clone(), status);
        }
        tracing::info!(case = %case, %agency, status = status.as_str(), by = %by.user, "ticket");
        self.record(
            now,
            Some(case.clone()),
            Kind::Ticket {
                agency: agency.clone(),
                status,
                by: by.user.clone(),
                note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                brief: None,
            },
        );
        if status.is_final() && self.calls.by_case(&case).is_none() {
            self.close_case_if_done(now, &case);
        }
        Ok(Done::Ticket {
            case,
            agency,
            status,
        })
    }

    /// The call of `case` is over, or one of its tickets became final:
    /// when every ticket is final, the case is closed.
    pub(super) fn close_case_if_done(&mut self, now: Instant, case: &CaseId) {
        if !self.tickets.all_final(case) {
            return;
        }
        self.tickets.by_case.remove(case);
        tracing::info!(case = %case, "case closed: every ticket is done");
        self.record(now, Some(case.clone()), Kind::Closed {});
    }
}
