//! What people do and what they see: commands into the core (from the
//! console, or a feature code dialled on a softphone: the same [`Command`]),
//! who may issue which, and the events out of it that a wallboard or an
//! operator's screen shows. Plain types and rules; no HTTP, no SIP.

mod event;

pub use event::{Ban, BanList, CallPhase, CallStatus, Event, QueueStatus, SeatPhase, SeatStatus};

use crate::caselog::{Brief, CaseId, TicketStatus};
use std::fmt;

/// Who is acting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The user name (a seat's user for an operator).
    pub user: String,
    pub role: Role,
}

impl Actor {
    /// The operator at `seat`, acting for it (a feature code, the console).
    pub fn operator(seat: &str) -> Actor {
        Actor {
            user: seat.to_string(),
            role: Role::Operator {
                seat: seat.to_string(),
            },
        }
    }

    pub fn supervisor(user: &str) -> Actor {
        Actor {
            user: user.to_string(),
            role: Role::Supervisor,
        }
    }
}

/// What a user may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// An operator: acts on its own seat and the calls it handles.
    Operator { seat: String },
    /// Acts on every seat and case.
    Supervisor,
    /// Agency staff: sees its agency's tickets, commands no seat or call.
    Agency { agency: String },
}

/// What a call turned out to be (DESIGN: class).
pub const CLASSES: &[&str] = &[
    "emergency",
    "information",
    "complaint",
    "prank",
    "silent",
    "accidental",
    "dropped",
    "test",
];

/// Classes that are no real call for help (the "false calls" share).
pub const FALSE_CLASSES: &[&str] = &["prank", "silent", "accidental"];

/// Something a person asks the core to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Stop taking calls for a while (`reason`: break, meal, training...).
    Pause { seat: String, reason: String },
    /// Take calls again (also logs in a logged-out seat, as `*42` does).
    Unpause { seat: String },
    /// Stop taking calls until the seat logs in again.
    LogOut { seat: String },
    /// Mark a call's outcome (`prank`, `silent`, ...): `case` None is the
    /// last call the seat handled.
    Mark {
        seat: String,
        case: Option<CaseId>,
        mark: String,
    },
    /// Set a case's class (one of [`CLASSES`]) and category (one of the
    /// configured ones).
    Classify {
        case: CaseId,
        class: String,
        category: Option<String>,
    },
    /// Add a note to a case.
    Note { case: CaseId, text: String },
    /// Where the emergency is: an address, coordinates, or both.
    Locate {
        case: CaseId,
        address: Option<String>,
        lat: Option<f64>,
        lon: Option<f64>,
    },
    /// The case is ready for dispatch (it needs a class).
    Ready { case: CaseId },
    /// Hand the case to an agency: a ticket, `sent`. `brief` is what the
    /// console knows of the case (class, category, location, notes), sent
    /// with it and kept in the record.
    Dispatch {
        case: CaseId,
        agency: String,
        note: Option<String>,
        brief: Brief,
    },
    /// A step of a ticket's life (by its agency, or a supervisor for it;
    /// an operator may cancel a ticket of its own case).
    TicketStep {
        case: CaseId,
        agency: String,
        status: TicketStatus,
        note: Option<String>,
    },
    /// A call-back attempt to the caller of a lost emergency call.
    Callback {
        case: CaseId,
        outcome: String,
        note: Option<String>,
    },
    /// The operator takes the text call offered to its seat.
    AcceptText { case: CaseId },
    /// The operator writes to a text caller.
    SendText { case: CaseId, text: String },
    /// The operator ends a text conversation.
    EndText { case: CaseId },
    /// The supervisor declares a major incident (or its end): the
    /// network's `emergency-ServiceState` says MajorIncidentInProgress.
    MajorIncident { on: bool },
    /// The supervisor lifts a password-guessing ban (an operator who
    /// mistyped, a desk phone with an old password now fixed).
    LiftBan {
        kind: crate::security::BanKind,
        key: String,
    },
}

/// What a call-back attempt came to.
pub const CALLBACK_OUTCOMES: &[&str] = &["reached", "no-answer", "busy", "wrong-number", "handled"];

pub use crate::caselog::CALLBACK_DONE;

/// The longest text message an operator sends (RFC 3428 asks MESSAGE to
/// stay well under 1,300 bytes).
pub const TEXT_MAX: usize = 1000;

/// The longest note on a ticket or call-back.
const SHORT_NOTE: usize = 500;

impl Command {
    /// The seat the command is about (None: a case command).
    pub fn seat(&self) -> Option<&str> {
        match self {
            Command::Pause { seat, .. }
            | Command::Unpause { seat }
            | Command::LogOut { seat }
            | Command::Mark { seat, .. } => Some(seat),
            _ => None,
        }
    }

    /// The case the command is about, if it names one.
    pub fn case(&self) -> Option<&CaseId> {
        match self {
            Command::Mark { case, .. } => case.as_ref(),
            Command::Classify { case, .. }
            | Command::Note { case, .. }
            | Command::Locate { case, .. }
            | Command::Ready { case }
            | Command::Dispatch { case, .. }
            | Command::TicketStep { case, .. }
            | Command::Callback { case, .. }
            | Command::AcceptText { case }
            | Command::SendText { case, .. }
            | Command::EndText { case } => Some(case),
            _ => None,
        }
    }

    /// Checks what can be checked without the core's state: who may issue
    /// it, and whether its words are well formed. (That an operator's case
    /// command is about a call of its own seat is the core's to check.)
    pub fn authorize(&self, by: &Actor) -> Result<(), CommandError> {
        match (&by.role, self) {
            (Role::Supervisor, _) => {}
            (_, Command::MajorIncident { .. } | Command::LiftBan { .. }) => {
                return Err(CommandError::NotAllowed)
            }
            // An agency moves its own tickets on, nothing else.
            (Role::Agency { agency }, Command::TicketStep { agency: a, .. }) if agency == a => {}
            (Role::Agency { .. }, _) => return Err(CommandError::NotAllowed),
            // An operator may cancel a ticket (of its case: the core checks);
            // the other steps are the agency's.
            (Role::Operator { .. }, Command::TicketStep { status, .. })
                if *status != TicketStatus::Cancelled =>
            {
                return Err(CommandError::NotAllowed)
            }
            (Role::Operator { seat }, c) => match c.seat() {
                Some(s) if s != seat => return Err(CommandError::NotAllowed),
                _ => {}
            },
        }
        let short = |n: &Option<String>| n.as_ref().is_some_and(|t| t.chars().count() > SHORT_NOTE);
        match self {
            Command::Classify { class, .. } if !CLASSES.contains(&class.as_str()) => Err(
                CommandError::Invalid(format!("{class:?} is not one of {}", CLASSES.join(", "))),
            ),
            Command::Note { text, .. } if text.trim().is_empty() || text.chars().count() > 2000 => {
                Err(CommandError::Invalid(
                    "a note is 1 to 2,000 characters".into(),
                ))
            }
            Command::Locate {
                address, lat, lon, ..
            } => {
                let coords = match (lat, lon) {
                    (Some(a), Some(o)) => {
                        if !(-90.0..=90.0).contains(a) || !(-180.0..=180.0).contains(o) {
                            return Err(CommandError::Invalid(
                                "latitude is -90..90 and longitude -180..180".into(),
                            ));
                        }
                        true
                    }
                    (None, None) => false,
                    _ => {
                        return Err(CommandError::Invalid(
                            "latitude and longitude go together".into(),
                        ))
                    }
                };
                let addr = address.as_ref().is_some_and(|a| !a.trim().is_empty());
                if address.as_ref().is_some_and(|a| a.chars().count() > 500) {
                    return Err(CommandError::Invalid(
                        "an address is at most 500 characters".into(),
                    ));
                }
                if !addr && !coords {
                    return Err(CommandError::Invalid("an address or coordinates".into()));
                }
                Ok(())
            }
            Command::SendText { text, .. }
                if text.trim().is_empty() || text.chars().count() > TEXT_MAX =>
            {
                Err(CommandError::Invalid(format!(
                    "a text message is 1 to {TEXT_MAX} characters"
                )))
            }
            Command::Pause { reason, .. } if !is_word(reason) => Err(CommandError::Invalid(
                "a pause reason is 1-32 of a-z, 0-9 and -".into(),
            )),
            Command::Mark { mark, .. } if !is_word(mark) => Err(CommandError::Invalid(
                "a mark is 1-32 of a-z, 0-9 and -".into(),
            )),
            Command::Dispatch { note, .. } | Command::TicketStep { note, .. } if short(note) => {
                Err(CommandError::Invalid(format!(
                    "a note is at most {SHORT_NOTE} characters"
                )))
            }
            Command::TicketStep { status, .. } if *status == TicketStatus::Sent => Err(
                CommandError::Invalid("a ticket is sent by dispatching the case".into()),
            ),
            Command::Callback { outcome, note, .. } => {
                if !CALLBACK_OUTCOMES.contains(&outcome.as_str()) {
                    return Err(CommandError::Invalid(format!(
                        "{outcome:?} is not one of {}",
                        CALLBACK_OUTCOMES.join(", ")
                    )));
                }
                if short(note) {
                    return Err(CommandError::Invalid(format!(
                        "a note is at most {SHORT_NOTE} characters"
                    )));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn is_word(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// The seat's state now.
    Seat(SeatStatus),
    /// The case was marked.
    Marked { case: CaseId, mark: String },
    /// The case command was recorded.
    Case { case: CaseId },
    /// The centre's declared state.
    Service { major_incident: bool },
    /// The ban is lifted.
    BanLifted,
    /// A ticket is at `status` now.
    Ticket {
        case: CaseId,
        agency: String,
        status: TicketStatus,
    },
}

/// Why a command was not carried out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    /// No seat of that name.
    UnknownSeat,
    /// No such case (or none the seat handled, for "the last call").
    UnknownCase,
    /// No such agency, or no ticket of it for the case.
    UnknownTicket,
    /// No ban in force on that address or user.
    UnknownBan,
    /// Not in this state (e.g. pausing a seat that is on a call).
    WrongState(String),
    /// The actor may not do this.
    NotAllowed,
    /// Malformed words.
    Invalid(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::UnknownSeat => f.write_str("no such seat"),
            CommandError::UnknownCase => f.write_str("no such case"),
            CommandError::UnknownTicket => f.write_str("no such agency or ticket"),
            CommandError::UnknownBan => f.write_str("no ban in force on that address or user"),
            CommandError::WrongState(s) => write!(f, "not possible while {s}"),
            CommandError::NotAllowed => f.write_str("not allowed"),
            CommandError::Invalid(why) => f.write_str(why),
        }
    }
}

/// The pause reasons the engine itself sets (a person's reason is free).
pub mod reason {
    /// Paused by `*41` without a reason of its own.
    pub const BREAK: &str = "break";
    /// Missed `max_no_answer` offers in a row.
    pub const NO_ANSWER: &str = "no-answer";
    /// Its phone does not answer (an offer or the keep-alives).
    pub const UNREACHABLE: &str = "unreachable";

    /// The one spelling of a reason read from a journal: earlier versions
    /// wrote `noanswer` for offer failures beside `no-answer` for pauses.
    pub fn normalize(r: &str) -> &str {
        match r {
            "noanswer" => NO_ANSWER,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_act_on_their_own_seat_supervisors_on_any_agencies_on_none() {
        let pause = |seat: &str| Command::Pause {
            seat: seat.into(),
            reason: "meal".into(),
        };
        assert_eq!(pause("op1").authorize(&Actor::operator("op1")), Ok(()));
        assert_eq!(
            pause("op2").authorize(&Actor::operator("op1")),
            Err(CommandError::NotAllowed)
        );
        assert_eq!(pause("op2").authorize(&Actor::supervisor("sup")), Ok(()));
        let agency = Actor {
            user: "damkar".into(),
            role: Role::Agency {
                agency: "fire".into(),
            },
        };
        assert_eq!(
            pause("op1").authorize(&agency),
            Err(CommandError::NotAllowed)
        );
        let bad = Command::Pause {
            seat: "op1".into(),
            reason: "Lunch Break!".into(),
        };
        assert!(matches!(
            bad.authorize(&Actor::operator("op1")),
            Err(CommandError::Invalid(_))
        ));
        assert_eq!(reason::normalize("noanswer"), "no-answer");
        assert_eq!(reason::normalize("break"), "break");
    }
}
