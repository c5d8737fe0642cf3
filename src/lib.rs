//! siaga112: the call-handling core of an NTPD 112 emergency call centre.
//!
//! A pure, sans-I/O core (transactions, registrar, B2BUA, ACD) driven by a
//! thin tokio shell (`engine`). See `DESIGN.md` in the shared folder.

pub mod acd;
pub mod call;
pub mod caselog;
pub mod cli;
pub mod config;
pub mod core;
pub mod engine;
pub mod media;
pub mod operator;
pub mod ratelimit;
pub mod registrar;
pub mod rng;
pub mod security;
pub mod sim;
pub mod sip;
pub mod transaction;
pub mod view;
