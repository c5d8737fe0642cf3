//! Operator commands applied to seats and cases: the console's buttons and
//! the softphone's feature codes both end here. Who may issue a command is
//! the operator module's rule; what it does to a seat or a case is here,
//! where the ACD and the calls are. Every change is a record naming who
//! made it.

use super::B2bua;
use crate::acd::{SeatId, SeatState};
use crate::caselog::{CaseId, Kind};
use crate::operator::{Actor, Command, CommandError, Done, Role};
use std::time::Instant;

impl B2bua {
    /// Carries out `cmd` for `by`, or says why not.
    pub fn apply(&mut self, now: Instant, by: &Actor, cmd: Command) -> Result<Done, CommandError> {
        cmd.authorize(by)?;
        if let Command::MajorIncident { on } = cmd {
            tracing::warn!(on, by = %by.user, "major incident declared by the supervisor (the network's service state follows)");
            self.subs.major_incident = on;
            self.subs.changed = true;
            return Ok(Done::Service { major_incident: on });
        }
        match cmd.seat() {
            Some(seat) => {
                let seat = self.acd.seat_id(seat).ok_or(CommandError::UnknownSeat)?;
                self.seat_command(now, by, seat, cmd)
            }
            None => self.case_command(now, by, cmd),
        }
    }

    fn seat_command(
        &mut self,
        now: Instant,
        by: &Actor,
        seat: SeatId,
        cmd: Command,
    ) -> Result<Done, CommandError> {
        let wrong = |b: &B2bua| CommandError::WrongState(b.seat_status(seat).phase.as_str().into());
        match cmd {
            Command::Pause { reason, .. } => {
                if !self.acd.pause(seat, &reason) {
                    return Err(wrong(self));
                }
            }
            Command::Unpause { .. } => {
                if *self.acd.seat_state(seat) == SeatState::LoggedOut {
                    self.acd.seat_login(seat, now);
                } else if !self.acd.unpause(seat, now) {
                    return Err(wrong(self));
                }
            }
            Command::LogOut { .. } => self.acd.seat_logout(seat),
            Command::Mark { case, mark, .. } => {
                let found = match &case {
                    Some(c) => self.case_of(by, Some(seat), c),
                    None => self
                        .history
                        .find(seat, None)
                        .map(|h| (h.case.clone(), h.caller.clone())),
                };
                let (case, caller) = found.ok_or(CommandError::UnknownCase)?;
                tracing::info!(case = %case, seat = %self.seat_name(seat), by = %by.user, %mark, "call marked");
                self.record(
                    now,
                    Some(case.clone()),
                    Kind::Outcome {
                        mark: mark.clone(),
                        by: Some(by.user.clone()),
                    },
                );
                if mark == "prank" {
                    let ms = self.wall_ms(now);
                    self.pranks.add(&caller, ms);
                }
                return Ok(Done::Marked { case, mark });
            }
            _ => return Err(CommandError::Invalid("not a seat command".into())),
        }
        let status = self.seat_status(seat);
        tracing::info!(seat = %status.seat, by = %by.user, state = status.phase.as_str(), "seat command");
        self.seat_record(now, seat, None);
        Ok(Done::Seat(status))
    }

    /// A case the actor may act on: (case, caller). An operator: a call its
    /// seat has answered, or one it handled lately; a supervisor: any call
    /// in progress or handled lately.
    pub(super) fn case_of(
        &self,
        by: &Actor,
        seat: Option<SeatId>,
        case: &CaseId,
    ) -> Option<(CaseId, String)> {
        let mine = |s: SeatId| {
            let live = self
                .calls
                .by_case(case)
                .and_then(|id| self.calls.get(id))
                .filter(|c| {
                    c.answered_leg()
                        .is_some_and(|l| l.role == super::Role::Seat(s))
                        || c.legs.iter().any(|l| l.role == super::Role::Seat(s))
                        || c.text.as_ref().is_some_and(|t| t.seat == Some(s))
                });
            live.map(|c| (c.case.clone(), c.caller.clone()))
                .or_else(|| {
                    self.history
                        .find(s, Some(case))
                        .map(|h| (h.case.clone(), h.caller.clone()))
                })
        };
        match &by.role {
            Role::Supervisor => self
                .calls
                .by_case(case)
                .and_then(|id| self.calls.get(id))
                .map(|c| (c.case.clone(), c.caller.clone()))
                .or_else(|| {
                    self.history
                        .find_any(case)
                        .map(|h| (h.case.clone(), h.caller.clone()))
                }),
            Role::Operator { seat: name } => {
                let s = seat.or_else(|| self.acd.seat_id(name))?;
                mine(s)
            }
            Role::Agency { .. } => None,
        }
    }

    fn case_command(
        &mut self,
        now: Instant,
        by: &Actor,
        cmd: Command,
    ) -> Result<Done, CommandError> {
        // Tickets and call-backs may be about cases of earlier days.
        let cmd = match cmd {
            Command::AcceptText { case } => return self.accept_text(now, by, case),
            Command::SendText { case, text } => return self.send_text(now, by, case, text),
            Command::EndText { case } => return self.end_text(by, case),
            Command::Dispatch {
                case,
                agency,
                note,
                brief,
            } => return self.dispatch(now, by, case, agency, note, brief),
            Command::TicketStep {
                case,
                agency,
                status,
                note,
            } => return self.ticket_step(now, by, case, agency, status, note),
            Command::Callback {
                case,
                outcome,
                note,
            } => {
                tracing::info!(case = %case, %outcome, by = %by.user, "call-back");
                self.record(
                    now,
                    Some(case.clone()),
                    Kind::Callback {
                        outcome,
                        by: by.user.clone(),
                        note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
                    },
                );
                return Ok(Done::Case { case });
            }
            other => other,
        };
        let case = cmd.case().cloned().ok_or(CommandError::UnknownCase)?;
        let (case, caller) = self
            .case_of(by, None, &case)
            .ok_or(CommandError::UnknownCase)?;
        let kind = match cmd {
            Command::Classify {
                class, category, ..
            } => {
                if let Some(c) = &category {
                    if !self.cfg.categories.iter().any(|k| &k.id == c) {
                        return Err(CommandError::Invalid(format!(
                            "{c:?} is not a configured category"
                        )));
                    }
                }
                self.set_class(&case, &class);
                if class == "prank" {
                    let ms = self.wall_ms(now);
                    self.pranks.add(&caller, ms);
                }
                Kind::Classified {
                    class,
                    category,
                    by: by.user.clone(),
                }
            }
            Command::Note { text, .. } => Kind::Note {
                text: text.trim().to_string(),
                by: by.user.clone(),
            },
            Command::Locate {
                address, lat, lon, ..
            } => Kind::Located {
                address: address
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty()),
                lat,
                lon,
                source: "operator".into(),
                by: Some(by.user.clone()),
                detail: None,
            },
            Command::Ready { .. } => {
                if self.class_of(&case).is_none() {
                    return Err(CommandError::WrongState("unclassified".into()));
                }
                Kind::Ready {
                    by: by.user.clone(),
                }
            }
            _ => return Err(CommandError::Invalid("not a case command".into())),
        };
        tracing::info!(case = %case, by = %by.user, "case updated");
        self.record(now, Some(case.clone()), kind);
        Ok(Done::Case { case })
    }

    fn set_class(&mut self, case: &CaseId, class: &str) {
        if let Some(c) = self
            .calls
            .by_case(case)
            .and_then(|id| self.calls.get_mut(id))
        {
            c.class = Some(class.to_string());
        }
        if let Some(h) = self.history.find_any_mut(case) {
            h.class = Some(class.to_string());
        }
    }

    pub(super) fn class_of(&self, case: &CaseId) -> Option<String> {
        self.calls
            .by_case(case)
            .and_then(|id| self.calls.get(id))
            .and_then(|c| c.class.clone())
            .or_else(|| self.history.find_any(case).and_then(|h| h.class.clone()))
    }
}
