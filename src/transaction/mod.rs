//! RFC 3261 §17 client and server transactions, with the RFC 6026 `Accepted`
//! states, as a plain state machine: messages and `now` go in, messages to
//! send and timeouts come out. No I/O, no clock.
//!
//! Timers (T1, T2, T4 from the config): A/B and E/F retransmit and time out
//! client requests, D and K absorb late responses, G/H retransmit a failure
//! response until ACK, I absorbs ACK retransmissions, J absorbs request
//! retransmissions, L and M keep an accepted INVITE (2xx) around, and while
//! the server waits for the ACK of its 2xx it retransmits it (§13.3.1.4).
//!
//! A timer is valid only in the state it was armed in: every state change
//! bumps the transaction's generation, so stale heap entries are skipped.

use crate::sip::rsip::{Request, Response};
use crate::sip::{parse_cseq, tag_of, top_via, write, Peer};
use bytes::Bytes;
use foldhash::{HashMap, HashMapExt};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Transaction timer base values (RFC 3261 §17.1.1.1, table 4).
#[derive(Debug, Clone, Copy)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Identifies a transaction: the branch, sent-by and method class for a
/// server transaction; the branch and method for a client transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(Arc<str>);

impl TxKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Accepted,
}

/// What a received request is to the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMatch {
    /// A new transaction: the TU must answer it through [`Transactions::respond`].
    New(TxKey),
    /// A retransmission, absorbed (the last response, if any, was re-sent).
    Retransmission,
    /// The ACK of a failure response, absorbed by its transaction.
    AckAbsorbed,
    /// An ACK for a 2xx (or for no transaction we know): it belongs to the
    /// dialog, so the TU handles it. Retransmission of the 2xx has stopped.
    AckForDialog,
}

/// What a received response is to the transaction layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMatch {
    /// Pass the response to the TU.
    Deliver(TxKey),
    /// A retransmission the transaction absorbed.
    Absorbed,
    /// No transaction: a stray (or a 2xx after the transaction ended).
    Stray,
}

/// What the transaction layer wants done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    Transmit {
        peer: Peer,
        data: Bytes,
    },
    /// Timer B or F, or a transport failure: act as if 408 had arrived.
    ClientTimeout(TxKey),
    /// Our final response was never acknowledged (timer H, or L after a 2xx).
    AckTimeout(TxKey),
}

#[derive(Debug)]
struct ServerTx {
    invite: bool,
    state: ServerState,
    peer: Peer,
    last: Option<Bytes>,
    interval: Duration,
    gen: u64,
    /// Call-ID and CSeq number, to find an accepted INVITE by its 2xx ACK.
    dialog: Option<(Box<str>, u32)>,
}

#[derive(Debug)]
struct ClientTx {
    invite: bool,
    state: ClientState,
    peer: Peer,
    /// The request as sent: retransmitted until a response, and for an
    /// INVITE the source of its CANCEL and failure ACK (emptied once a
    /// final response makes both unneeded).
    data: Bytes,
    ack: Option<Bytes>,
    interval: Duration,
    gen: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// A, E, G, and the 2xx retransmission of an accepted INVITE.
    Retransmit,
    /// B, F, H, L: the transaction gives up (and says so).
    GiveUp,
    /// D, I, J, K, M: the transaction ends quietly.
    End,
}

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    side: Side,
    timer: Timer,
    gen: u64,
    key: TxKey,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// All live transactions of the engine.
#[derive(Debug)]
pub struct Transactions {
    cfg: TimerConfig,
    server: HashMap<TxKey, ServerTx>,
    client: HashMap<TxKey, ClientTx>,
    /// Accepted INVITE server transactions by (Call-ID, CSeq number).
    accepted: HashMap<(Box<str>, u32), TxKey>,
    timers: BinaryHeap<Entry>,
    seq: u64,
    next_gen: u64,
    events: VecDeque<TxEvent>,
}

/// The server transaction key of a request (RFC 3261 §17.2.3, with the
/// RFC 2543 fallback when the branch lacks the magic cookie). ACK and
/// CANCEL: see [`Transactions::invite_key_for`].
pub fn server_key(req: &Request) -> Option<TxKey> {
    let via = req.headers.iter().find_map(|h| match h {
        crate::sip::rsip::Header::Via(v) => Some(v.value()),
        _ => None,
    })?;
    let via = top_via(via)?;
    let method = crate::sip::method_name(req.method);
    let class = if method == "ACK" { "INVITE" } else { method };
    match via.branch {
        Some(b) if b.starts_with("z9hG4bK") => {
            let mut k = String::with_capacity(b.len() + via.sent_by.len() + class.len() + 2);
            for part in [b, "|", via.sent_by, "|", class] {
                k.push_str(part);
            }
            Some(TxKey(k.into()))
        }
        _ => {
            // RFC 2543: Request-URI, From tag, Call-ID, CSeq number and top
            // Via identify it. The To tag is left out: ours is added in the
            // response, so the ACK would not match the INVITE with it.
            let from = crate::sip::header(&req.headers, "From")
                .and_then(tag_of)
                .unwrap_or("");
            let call_id = crate::sip::header(&req.headers, "Call-ID").unwrap_or("");
            let cseq = crate::sip::header(&req.headers, "CSeq")
                .and_then(parse_cseq)
                .map(|c| c.0)
                .unwrap_or(0);
            Some(TxKey(
                format!(
                    "2543|{}|{from}|{call_id}|{cseq}|{}|{}|{class}",
                    req.uri,
                    via.sent_by,
                    via.branch.unwrap_or("")
                )
                .into(),
            ))
        }
    }
}

/// The key of the client transaction a response with this top Via branch
/// and CSeq method belongs to.
pub fn client_key(branch: &str, method: &str) -> TxKey {
    let mut k = String::with_capacity(branch.len() + method.len() + 1);
    for part in [branch, "|", method] {
        k.push_str(part);
    }
    TxKey(k.into())
}

impl Transactions {
    pub fn new(cfg: TimerConfig) -> Transactions {
        Transactions {
            cfg,
            server: HashMap::new(),
            client: HashMap::new(),
            accepted: HashMap::new(),
            timers: BinaryHeap::new(),
            seq: 0,
            next_gen: 0,
            events: VecDeque::new(),
        }
    }

    pub fn len(&self) -> (usize, usize) {
        (self.server.len(), self.client.len())
    }

    pub fn is_empty(&self) -> bool {
        self.server.is_empty() && self.client.is_empty()
    }

    pub fn server_state(&self, key: &TxKey) -> Option<ServerState> {
        self.server.get(key).map(|t| t.state)
    }

    pub fn client_state(&self, key: &TxKey) -> Option<ClientState> {
        self.client.get(key).map(|t| t.state)
    }

    /// The next thing to do, if any.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(top) = self.timers.peek() {
            if self.is_live(top) {
                return Some(top.at);
            }
            self.timers.pop();
        }
        None
    }

    fn is_live(&self, e: &Entry) -> bool {
        match e.side {
            Side::Server => self.server.get(&e.key).is_some_and(|t| t.gen == e.gen),
            Side::Client => self.client.get(&e.key).is_some_and(|t| t.gen == e.gen),
        }
    }

    fn gen(&mut self) -> u64 {
        self.next_gen += 1;
        self.next_gen
    }

    fn arm(&mut self, side: Side, key: &TxKey, gen: u64, timer: Timer, at: Instant) {
        self.seq += 1;
        self.timers.push(Entry {
            at,
            seq: self.seq,
            side,
            timer,
            gen,
            key: key.clone(),
        });
    }

    fn send(&mut self, peer: Peer, data: Bytes) {
        self.events.push_back(TxEvent::Transmit { peer, data });
    }

    // ---------------------------------------------------------------- server

    /// Matches a received request. `peer` is where responses go.
    pub fn on_request(&mut self, now: Instant, req: &Request, peer: Peer) -> ServerMatch {
        let Some(key) = server_key(req) else {
            return ServerMatch::AckForDialog;
        };
        let is_ack = req.method == crate::sip::rsip::Method::Ack;
        if is_ack {
            return self.on_ack(now, req, &key);
        }
        if let Some(tx) = self.server.get(&key) {
            let resend = match tx.state {
                ServerState::Accepted => None, // our own timer re-sends the 2xx
                _ => tx.last.clone().map(|d| (tx.peer, d)),
            };
            if let Some((p, d)) = resend {
                self.send(p, d);
            }
            return ServerMatch::Retransmission;
        }
        let invite = req.method == crate::sip::rsip::Method::Invite;
        let dialog = if invite {
            let call_id = crate::sip::header(&req.headers, "Call-ID").unwrap_or("");
            let num = crate::sip::header(&req.headers, "CSeq")
                .and_then(parse_cseq)
                .map(|c| c.0)
                .unwrap_or(0);
            Some((Box::from(call_id), num))
        } else {
            None
        };
        let gen = self.gen();
        self.server.insert(
            key.clone(),
            ServerTx {
                invite,
                state: if invite {
                    ServerState::Proceeding
                } else {
                    ServerState::Trying
                },
                peer,
                last: None,
                interval: self.cfg.t1,
                gen,
                dialog,
            },
        );
        ServerMatch::New(key)
    }

    fn on_ack(&mut self, now: Instant, req: &Request, key: &TxKey) -> ServerMatch {
        if let Some(tx) = self.server.get_mut(key) {
            match tx.state {
                ServerState::Completed => {
                    tx.state = ServerState::Confirmed;
                    let reliable = tx.peer.transport.reliable();
                    let gen = self.gen();
                    let tx = self.server.get_mut(key).expect("present");
                    tx.gen = gen;
                    if reliable {
                        self.server.remove(key);
                    } else {
                        let at = now + self.cfg.t4; // timer I
                        self.arm(Side::Server, key, gen, Timer::End, at);
                    }
                    return ServerMatch::AckAbsorbed;
                }
                ServerState::Confirmed => return ServerMatch::AckAbsorbed,
                _ => {}
            }
        }
        // An ACK for a 2xx has its own branch: find the INVITE by dialog.
        let call_id = crate::sip::header(&req.headers, "Call-ID").unwrap_or("");
        let num = crate::sip::header(&req.headers, "CSeq")
            .and_then(parse_cseq)
            .map(|c| c.0)
            .unwrap_or(0);
        if let Some(k) = self.accepted.remove(&(Box::from(call_id), num)) {
            self.server.remove(&k);
        }
        ServerMatch::AckForDialog
    }

    /// The INVITE server transaction a CANCEL or ACK with this key refers to
    /// (same branch and sent-by, RFC 3261 §9.2).
    pub fn invite_key_for(&self, cancel_key: &TxKey) -> Option<TxKey> {
        let s = cancel_key.as_str();
        let base = s.rsplit_once('|')?.0;
        let k = TxKey(format!("{base}|INVITE").into());
        self.server.get(&k).filter(|t| t.invite).map(|_| k)
    }

    /// Sends a response within a server transaction. Returns false if the
    /// transaction is gone (the response is not sent).
    pub fn respond(&mut self, now: Instant, key: &TxKey, status: u16, data: Bytes) -> bool {
        let t1 = self.cfg.t1;
        let Some(tx) = self.server.get_mut(key) else {
            return false;
        };
        let peer = tx.peer;
        let reliable = peer.transport.reliable();
        let state = tx.state;
        let invite = tx.invite;
        // A response after the final one is a TU error; refuse it.
        if !matches!(state, ServerState::Trying | ServerState::Proceeding) {
            return false;
        }
        tx.last = Some(data.clone());
        self.send(peer, data);
        let gen = self.gen();
        let tx = self.server.get_mut(key).expect("present");
        tx.gen = gen;
        match (invite, status) {
            (_, 100..=199) => {
                tx.state = ServerState::Proceeding;
            }
            (true, 200..=299) => {
                tx.state = ServerState::Accepted;
                tx.interval = t1;
                if let Some(d) = tx.dialog.clone() {
                    self.accepted.insert(d, key.clone());
                }
                if !reliable {
                    self.arm(Side::Server, key, gen, Timer::Retransmit, now + t1);
                }
                self.arm(Side::Server, key, gen, Timer::GiveUp, now + 64 * t1); // L
            }
            (true, _) => {
                tx.state = ServerState::Completed;
                tx.interval = t1;
                if !reliable {
                    self.arm(Side::Server, key, gen, Timer::Retransmit, now + t1);
                    // G
                }
                self.arm(Side::Server, key, gen, Timer::GiveUp, now + 64 * t1); // H
            }
            (false, _) => {
                tx.state = ServerState::Completed;
                if reliable {
                    self.server.remove(key);
                } else {
                    self.arm(Side::Server, key, gen, Timer::End, now + 64 * t1);
                    // J
                }
            }
        }
        true
    }

    // ---------------------------------------------------------------- client

    /// Starts a client transaction for a parsed request (not ACK). The top
    /// Via must carry a fresh `z9hG4bK` branch.
    pub fn send_request(&mut self, now: Instant, request: Request, peer: Peer) -> Option<TxKey> {
        let via = crate::sip::header(&request.headers, "Via")?;
        let branch = top_via(via)?.branch?.to_string();
        let method = crate::sip::method_name(request.method);
        let data = Bytes::from(request.to_bytes());
        Some(self.send_written(now, method, &branch, data, peer))
    }

    /// A client transaction for a request we wrote as text (not ACK):
    /// `branch` is its top Via's branch, `data` goes on the wire as it is,
    /// without a parse or a second serialization.
    pub fn send_written(
        &mut self,
        now: Instant,
        method: &str,
        branch: &str,
        data: Bytes,
        peer: Peer,
    ) -> TxKey {
        let key = client_key(branch, method);
        let invite = method == "INVITE";
        let gen = self.gen();
        self.client.insert(
            key.clone(),
            ClientTx {
                invite,
                state: if invite {
                    ClientState::Calling
                } else {
                    ClientState::Trying
                },
                peer,
                data: data.clone(),
                ack: None,
                interval: self.cfg.t1,
                gen,
            },
        );
        self.send(peer, data);
        if !peer.transport.reliable() {
            self.arm(
                Side::Client,
                &key,
                gen,
                Timer::Retransmit,
                now + self.cfg.t1,
            ); // A / E
        }
        self.arm(
            Side::Client,
            &key,
            gen,
            Timer::GiveUp,
            now + 64 * self.cfg.t1,
        ); // B / F
        key
    }

    /// The request that started a client transaction, as sent (to build
    /// its CANCEL); None once a final response arrived.
    pub fn request_data(&self, key: &TxKey) -> Option<&Bytes> {
        self.client
            .get(key)
            .map(|t| &t.data)
            .filter(|d| !d.is_empty())
    }

    /// The peer a client transaction sends to.
    pub fn client_peer(&self, key: &TxKey) -> Option<Peer> {
        self.client.get(key).map(|t| t.peer)
    }

    /// Sends the CANCEL of the INVITE client transaction `invite` (RFC 3261
    /// §9.1: built from the INVITE as sent, same branch, same peer) as a
    /// transaction of its own. None once the INVITE had a final response.
    pub fn send_cancel(&mut self, now: Instant, invite: &TxKey) -> Option<TxKey> {
        let data = write::cancel_for(self.request_data(invite)?)?;
        let peer = self.client_peer(invite)?;
        let (branch, _) = invite.as_str().rsplit_once('|')?;
        let branch = branch.to_string();
        Some(self.send_written(now, "CANCEL", &branch, data, peer))
    }

    /// Matches a received response to its client transaction.
    pub fn on_response(&mut self, now: Instant, resp: &Response) -> ClientMatch {
        let Some(branch) = crate::sip::header(&resp.headers, "Via")
            .and_then(top_via)
            .and_then(|v| v.branch)
        else {
            return ClientMatch::Stray;
        };
        let Some((_, method)) = crate::sip::header(&resp.headers, "CSeq").and_then(parse_cseq)
        else {
            return ClientMatch::Stray;
        };
        let to = crate::sip::header(&resp.headers, "To").unwrap_or("");
        let status = resp.status_code.code();
        self.on_response_parts(now, &client_key(branch, method), status, to)
    }

    /// [`Transactions::on_response`] for a response known by its parts:
    /// the client key (top Via branch and CSeq method, see
    /// [`client_key`]), the status, and its To (used only for
    /// the ACK of an INVITE failure).
    pub fn on_response_parts(
        &mut self,
        now: Instant,
        key: &TxKey,
        status: u16,
        to: &str,
    ) -> ClientMatch {
        let key = key.clone();
        let (t1, t4) = (self.cfg.t1, self.cfg.t4);
        let Some(tx) = self.client.get_mut(&key) else {
            return ClientMatch::Stray;
        };
        let reliable = tx.peer.transport.reliable();
        let peer = tx.peer;
        match (tx.invite, tx.state, status) {
            (true, ClientState::Calling | ClientState::Proceeding, 100..=199) => {
                if tx.state == ClientState::Calling {
                    tx.state = ClientState::Proceeding;
                    tx.gen = self.next_gen + 1;
                    self.next_gen += 1;
                }
                ClientMatch::Deliver(key)
            }
            (true, ClientState::Calling | ClientState::Proceeding, 200..=299) => {
                tx.state = ClientState::Accepted;
                tx.data = Bytes::new();
                let gen = self.gen();
                self.client.get_mut(&key).expect("present").gen = gen;
                self.arm(Side::Client, &key, gen, Timer::End, now + 64 * t1); // M
                ClientMatch::Deliver(key)
            }
            (true, ClientState::Calling | ClientState::Proceeding, _) => {
                let ack = write::ack_for_failure(&std::mem::take(&mut tx.data), to);
                tx.ack = ack.clone();
                tx.state = ClientState::Completed;
                let gen = self.gen();
                self.client.get_mut(&key).expect("present").gen = gen;
                if let Some(ack) = ack {
                    self.send(peer, ack);
                }
                if reliable {
                    self.client.remove(&key);
                } else {
                    self.arm(Side::Client, &key, gen, Timer::End, now + 64 * t1);
                    // D (>= 32 s)
                }
                ClientMatch::Deliver(key)
            }
            (true, ClientState::Accepted, 200..=299) => ClientMatch::Deliver(key),
            (true, ClientState::Completed, 300..) => {
                if let Some(ack) = tx.ack.clone() {
                    self.send(peer, ack);
                }
                ClientMatch::Absorbed
            }
            (false, ClientState::Trying | ClientState::Proceeding, 100..=199) => {
                tx.state = ClientState::Proceeding;
                ClientMatch::Deliver(key)
            }
            (false, ClientState::Trying | ClientState::Proceeding, _) => {
                tx.state = ClientState::Completed;
                let gen = self.gen();
                self.client.get_mut(&key).expect("present").gen = gen;
                if reliable {
                    self.client.remove(&key);
                } else {
                    self.arm(Side::Client, &key, gen, Timer::End, now + t4); // K
                }
                ClientMatch::Deliver(key)
            }
            _ => ClientMatch::Absorbed,
        }
    }

    /// A transport error towards `peer` (ICMP unreachable, TCP failure):
    /// every client transaction still waiting on that peer fails at once.
    pub fn transport_failed(&mut self, peer_addr: std::net::SocketAddr) {
        let failed: Vec<TxKey> = self
            .client
            .iter()
            .filter(|(_, t)| {
                t.peer.addr == peer_addr
                    && matches!(
                        t.state,
                        ClientState::Calling | ClientState::Trying | ClientState::Proceeding
                    )
            })
            .map(|(k, _)| k.clone())
            .collect();
        for k in failed {
            self.client.remove(&k);
            self.events.push_back(TxEvent::ClientTimeout(k));
        }
    }

    /// Forgets a client transaction (e.g. the TU gave up on it).
    pub fn forget_client(&mut self, key: &TxKey) {
        self.client.remove(key);
    }

    // ---------------------------------------------------------------- timers

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(top) = self.timers.peek() {
            if top.at > now {
                break;
            }
            let Some(e) = self.timers.pop() else { break };
            if !self.is_live(&e) {
                continue;
            }
            match e.side {
                Side::Server => self.fire_server(now, e),
                Side::Client => self.fire_client(now, e),
            }
        }
    }

    fn fire_server(&mut self, now: Instant, e: Entry) {
        let t2 = self.cfg.t2;
        match e.timer {
            Timer::Retransmit => {
                let Some(tx) = self.server.get_mut(&e.key) else {
                    return;
                };
                let Some(d) = tx.last.clone() else { return };
                tx.interval = (tx.interval * 2).min(t2);
                let (peer, at) = (tx.peer, now + tx.interval);
                self.send(peer, d);
                self.arm(Side::Server, &e.key, e.gen, Timer::Retransmit, at);
            }
            Timer::GiveUp => {
                if let Some(tx) = self.server.remove(&e.key) {
                    if let Some(d) = tx.dialog {
                        if self.accepted.get(&d) == Some(&e.key) {
                            self.accepted.remove(&d);
                        }
                    }
                }
                self.events.push_back(TxEvent::AckTimeout(e.key));
            }
            Timer::End => {
                self.server.remove(&e.key);
            }
        }
    }

    fn fire_client(&mut self, now: Instant, e: Entry) {
        let t2 = self.cfg.t2;
        match e.timer {
            Timer::Retransmit => {
                let Some(tx) = self.client.get_mut(&e.key) else {
                    return;
                };
                // INVITE doubles without bound (A); others cap at T2 (E).
                tx.interval = if tx.invite {
                    tx.interval * 2
                } else {
                    (tx.interval * 2).min(t2)
                };
                let (peer, data, at) = (tx.peer, tx.data.clone(), now + tx.interval);
                self.send(peer, data);
                self.arm(Side::Client, &e.key, e.gen, Timer::Retransmit, at);
            }
            Timer::GiveUp => {
                self.client.remove(&e.key);
                self.events.push_back(TxEvent::ClientTimeout(e.key));
            }
            Timer::End => {
                self.client.remove(&e.key);
            }
        }
    }
}

#[cfg(test)]
mod tests;
