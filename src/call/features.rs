//! Feature codes: a thin SIP adapter that turns a code an authenticated
//! seat dialled (`*41` pause...) into the same [`Command`] a console button
//! sends, then answers the INVITE by the command's result: 200 and a hang-
//! up once it is done, 409 when the seat's state does not allow it, 404
//! for a code nobody configured.

use super::leg::Dialog;
use super::B2bua;
use crate::operator::{reason, Actor, Command, CommandError};
use crate::sip::rsip::Request;
use crate::sip::{Echo, Peer, ResponseWriter};
use crate::transaction::{Transactions, TxKey};
use std::time::Instant;

impl B2bua {
    /// Whether a dialled target is one of the seats' feature codes.
    pub fn is_feature_code(&self, target: &str) -> bool {
        let a = &self.cfg.acd;
        [&a.code_pause, &a.code_unpause, &a.code_logout]
            .into_iter()
            .any(|c| c == target)
            || a.mark_codes.iter().any(|(c, _)| c == target)
    }

    /// The command a code stands for.
    fn command_for(&self, seat: &str, code: &str) -> Option<Command> {
        let a = &self.cfg.acd;
        let seat = seat.to_string();
        Some(if code == a.code_pause {
            Command::Pause {
                seat,
                reason: reason::BREAK.into(),
            }
        } else if code == a.code_unpause {
            Command::Unpause { seat }
        } else if code == a.code_logout {
            Command::LogOut { seat }
        } else {
            let (_, mark) = a.mark_codes.iter().find(|(c, _)| c == code)?;
            Command::Mark {
                seat,
                case: None,
                mark: mark.clone(),
            }
        })
    }

    /// An authenticated seat dialled a feature code: act on it, answer,
    /// and hang up.
    #[allow(clippy::too_many_arguments)]
    pub fn feature_code(
        &mut self,
        now: Instant,
        txs: &mut Transactions,
        key: TxKey,
        src: Peer,
        req: Request,
        user: &str,
        code: &str,
    ) {
        let Some(cmd) = self.command_for(user, code) else {
            tracing::info!(seat = %user, %code, "unknown feature code");
            return self.reply(now, txs, &key, &req, 404, "Not Found", None, &[]);
        };
        let refused = match self.apply(now, &Actor::operator(user), cmd) {
            Ok(_) => None,
            Err(e @ (CommandError::WrongState(_) | CommandError::UnknownCase)) => {
                Some((409, "Conflict", e))
            }
            Err(
                e @ (CommandError::UnknownSeat
                | CommandError::UnknownTicket
                | CommandError::UnknownBan),
            ) => Some((404, "Not Found", e)),
            Err(e @ CommandError::NotAllowed) => Some((403, "Forbidden", e)),
            Err(e @ CommandError::Invalid(_)) => Some((400, "Bad Request", e)),
        };
        if let Some((status, phrase, why)) = refused {
            tracing::info!(seat = %user, %code, %why, "feature code refused");
            return self.reply(now, txs, &key, &req, status, phrase, None, &[]);
        }
        // Answer (media inactive) and hang up as soon as the seat ACKs.
        let tag = self.token();
        let dialog = Dialog::answering(&req, &tag, src);
        let ip = self.local.addr(src.transport).ip();
        let sdp = format!(
            "v=0\r\no=siaga112 1 1 IN IP4 {ip}\r\ns=siaga112\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 9 RTP/AVP 0 8\r\na=inactive\r\n"
        );
        let echo = Echo::from_request(&req);
        let data = ResponseWriter::new(&echo, 200, "OK", Some(&tag))
            .header("Contact", self.local.contact(src.transport))
            .header("Server", &self.cfg.sip.user_agent)
            .finish(Some(("application/sdp", sdp.as_bytes())));
        txs.respond(now, &key, 200, data);
        self.feature_calls.insert(dialog.call_id.clone(), dialog);
    }
}
