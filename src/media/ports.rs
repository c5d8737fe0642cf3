//! RTP port pairs for the relay's legs.
//!
//! The core owns the pool (on the SIP thread): it allocates a port when it
//! writes an SDP for a leg, passes it in [`super::MediaCommand::OpenLeg`],
//! and frees it when the call ends. The media machine never allocates.
//!
//! Ports are handed out in order through the range and a freed port goes to
//! the back of the queue, so the port of a call that just ended is the last
//! to be reused: late packets of the old call find no socket, or an old
//! socket, not a new call. Exhaustion returns `None` (the core then bridges
//! the call without the relay). Everything is O(1).

use std::collections::VecDeque;

/// Even RTP ports (RTCP is the odd port above) from a range.
#[derive(Clone, Debug)]
pub struct PortPool {
    first: u16,
    free: VecDeque<u16>,
    used: Vec<bool>,
}

impl PortPool {
    /// The pairs within `min..=max` (an odd `min` starts at the next even
    /// port; a pair needs its RTCP port within the range too).
    pub fn new(min: u16, max: u16) -> PortPool {
        let first = min.saturating_add(min % 2);
        let mut free = VecDeque::new();
        let mut p = u32::from(first);
        while p < u32::from(max) {
            free.push_back(p as u16);
            p += 2;
        }
        let used = vec![false; free.len()];
        PortPool { first, free, used }
    }

    /// The next RTP port, or `None` when all are in use.
    pub fn alloc(&mut self) -> Option<u16> {
        let p = self.free.pop_front()?;
        if let Some(u) = self.index(p).and_then(|i| self.used.get_mut(i)) {
            *u = true;
        }
        Some(p)
    }

    /// Gives a port back. Unknown, odd or already free ports are ignored.
    pub fn free(&mut self, port: u16) {
        let Some(i) = self.index(port) else { return };
        if let Some(u) = self.used.get_mut(i) {
            if *u {
                *u = false;
                self.free.push_back(port);
            }
        }
    }

    fn index(&self, port: u16) -> Option<usize> {
        if port < self.first || !(port - self.first).is_multiple_of(2) {
            return None;
        }
        let i = usize::from((port - self.first) / 2);
        (i < self.used.len()).then_some(i)
    }

    /// Pairs free now.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Pairs in the range.
    pub fn capacity(&self) -> usize {
        self.used.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_in_order_and_freed_ones_last() {
        let mut p = PortPool::new(20000, 20009);
        assert_eq!(p.capacity(), 5);
        assert_eq!(p.alloc(), Some(20000));
        assert_eq!(p.alloc(), Some(20002));
        p.free(20000);
        assert_eq!(p.alloc(), Some(20004));
        assert_eq!(p.alloc(), Some(20006));
        assert_eq!(p.alloc(), Some(20008));
        assert_eq!(p.alloc(), Some(20000));
        assert_eq!(p.alloc(), None);
        assert_eq!(p.available(), 0);
        // Double free, foreign and odd ports change nothing.
        p.free(20002);
        p.free(20002);
        p.free(20001);
        p.free(19998);
        p.free(30000);
        assert_eq!(p.available(), 1);
        assert_eq!(p.alloc(), Some(20002));
        assert_eq!(p.alloc(), None);
    }

    #[test]
    fn range_edges() {
        // Odd start; the last even port needs its odd partner in range.
        let mut p = PortPool::new(20001, 20006);
        assert_eq!(
            (p.alloc(), p.alloc(), p.alloc()),
            (Some(20002), Some(20004), None)
        );
        let q = PortPool::new(65530, 65535);
        assert_eq!(q.capacity(), 3);
        assert_eq!(PortPool::new(100, 100).capacity(), 0);
        assert_eq!(PortPool::new(20000, 29999).capacity(), 5000);
    }
}
