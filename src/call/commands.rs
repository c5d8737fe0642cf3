//! Operator commands applied to seats and cases: the console's buttons and
//! the softphone's feature codes both end here. Who may issue a command is
//! the operator module's rule; what it does to a seat or a case is here,
//! where the ACD and the calls are.

use super::B2bua;
use crate::acd::SeatState;
use crate::caselog::Kind;
use crate::operator::{Actor, Command, CommandError, Done};
use std::time::Instant;

impl B2bua {
    /// Carries out `cmd` for `by`, or says why not. Every change is a
    /// record (who did it is in the engine's log line; the case log keeps
    /// the seat's new state or the case's mark).
    pub fn apply(&mut self, now: Instant, by: &Actor, cmd: Command) -> Result<Done, CommandError> {
        cmd.authorize(by)?;
        let seat = self
            .acd
            .seat_id(cmd.seat())
            .ok_or(CommandError::UnknownSeat)?;
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
                    Some(c) => self
                        .calls
                        .by_case(c)
                        .and_then(|id| self.calls.get(id))
                        .filter(|call| {
                            call.answered_leg()
                                .is_some_and(|l| l.role == super::Role::Seat(seat))
                                || matches!(by.role, crate::operator::Role::Supervisor)
                        })
                        .map(|call| (call.case.clone(), call.caller.clone()))
                        .or_else(|| self.history.find(seat, Some(c)).cloned())
                        .or_else(|| {
                            matches!(by.role, crate::operator::Role::Supervisor)
                                .then(|| self.history.find_any(c).cloned())
                                .flatten()
                        }),
                    None => self.history.find(seat, None).cloned(),
                };
                let (case, caller) = found.ok_or(CommandError::UnknownCase)?;
                tracing::info!(case = %case, seat = %self.seat_name(seat), by = %by.user, %mark, "call marked");
                self.record(
                    now,
                    Some(case.clone()),
                    Kind::Outcome { mark: mark.clone() },
                );
                if mark == "prank" {
                    let ms = self.wall_ms(now);
                    self.pranks.add(&caller, ms);
                }
                return Ok(Done::Marked { case, mark });
            }
        }
        let status = self.seat_status(seat);
        tracing::info!(seat = %status.seat, by = %by.user, state = status.phase.as_str(), "seat command");
        self.seat_record(now, seat, None);
        Ok(Done::Seat(status))
    }
}
