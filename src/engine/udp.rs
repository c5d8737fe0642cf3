//! Batched UDP I/O for the run loop: one `recvmmsg(2)` reads up to
//! [`BATCH`] datagrams, one `sendmmsg(2)` sends up to [`BATCH`].
//!
//! Why not one `recv_from`/`send_to` per datagram: under load each of those
//! is a system call, and a read loop also needs a last call that only
//! returns `EAGAIN`. A short batch tells us the queue is empty, so the caller
//! can drop the socket's readiness without that extra call (epoll is
//! edge-triggered: every later datagram is reported again).
//!
//! nix 0.31 wraps both calls, but the only way to count what its `sendmmsg`
//! sent is to iterate results that read uninitialised address slots; the two
//! calls are small enough to wrap here. Addresses go through socket2.

use bytes::Bytes;
use socket2::{SockAddr, SockAddrStorage};
use std::io;
use std::mem::{size_of, zeroed};
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Datagrams per system call.
pub const BATCH: usize = 16;

/// Points one message header at one buffer and one address slot (the
/// caller keeps all three alive across the system call).
fn point(
    hdr: &mut libc::mmsghdr,
    iov: &mut libc::iovec,
    (buf, len): (*mut u8, usize),
    (name, name_len): (*mut libc::c_void, libc::socklen_t),
) {
    iov.iov_base = buf.cast();
    iov.iov_len = len;
    let h = &mut hdr.msg_hdr;
    h.msg_name = name;
    h.msg_namelen = name_len;
    h.msg_iov = iov;
    h.msg_iovlen = 1;
}

/// Room for one control message carrying a `timespec` (8-byte aligned, as
/// `cmsghdr` needs).
type Control = [u64; 8];

/// Asks the kernel to stamp every datagram of `fd` with its arrival time
/// (`SO_TIMESTAMPNS`, wall clock), read by [`RecvBatch::arrived`]: the time a
/// datagram waits in the socket buffer counts as latency we add.
pub fn enable_timestamps(fd: RawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid fd and a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Buffers for one `recvmmsg`.
pub struct RecvBatch {
    bufs: Vec<Box<[u8]>>,
    names: Vec<libc::sockaddr_storage>,
    name_lens: [libc::socklen_t; BATCH],
    lens: [usize; BATCH],
    controls: [Control; BATCH],
    control_lens: [usize; BATCH],
    n: usize,
}

impl RecvBatch {
    /// `slot`: bytes per datagram buffer (one more than the largest message
    /// accepted tells an oversized datagram from a full one).
    pub fn new(slot: usize) -> RecvBatch {
        RecvBatch {
            bufs: (0..BATCH)
                .map(|_| vec![0u8; slot].into_boxed_slice())
                .collect(),
            // SAFETY: all zeros is a valid sockaddr_storage.
            names: vec![unsafe { zeroed::<libc::sockaddr_storage>() }; BATCH],
            name_lens: [0; BATCH],
            lens: [0; BATCH],
            controls: [[0; 8]; BATCH],
            control_lens: [0; BATCH],
            n: 0,
        }
    }

    /// One non-blocking `recvmmsg`: the number of datagrams read (at least
    /// one), or `WouldBlock` when none is queued.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        self.n = 0;
        // SAFETY: zeroed iovec/mmsghdr are valid (null pointers, zero lengths).
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdr: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for i in 0..BATCH {
            point(
                &mut hdr[i],
                &mut iov[i],
                (self.bufs[i].as_mut_ptr(), self.bufs[i].len()),
                (
                    (&mut self.names[i] as *mut libc::sockaddr_storage).cast(),
                    size_of::<libc::sockaddr_storage>() as libc::socklen_t,
                ),
            );
            hdr[i].msg_hdr.msg_control = self.controls[i].as_mut_ptr().cast();
            hdr[i].msg_hdr.msg_controllen = size_of::<Control>() as _;
        }
        // SAFETY: every header points at a buffer and an address slot that
        // live in `self` or this frame for the whole call, with their true
        // lengths; the kernel writes at most that much into each.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdr.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (r as usize).min(BATCH);
        for (i, h) in hdr.iter().enumerate().take(n) {
            self.lens[i] = (h.msg_len as usize).min(self.bufs[i].len());
            self.name_lens[i] = h.msg_hdr.msg_namelen;
            // usize on glibc, u32 on musl.
            #[allow(clippy::unnecessary_cast)]
            let control_len = h.msg_hdr.msg_controllen as usize;
            self.control_lens[i] = control_len;
        }
        self.n = n;
        Ok(n)
    }

    /// Datagram `i` of the last [`RecvBatch::recv`]: its sender (None for an
    /// address family we do not speak) and its bytes.
    pub fn get(&self, i: usize) -> Option<(Option<SocketAddr>, &[u8])> {
        if i >= self.n {
            return None;
        }
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: sockaddr_storage is one of the platform's sockaddr types;
        // the kernel filled `names[i]` and told us its length.
        let addr = unsafe {
            *storage.view_as::<libc::sockaddr_storage>() = self.names[i];
            SockAddr::new(storage, self.name_lens[i])
        };
        Some((addr.as_socket(), &self.bufs[i][..self.lens[i]]))
    }
}

impl RecvBatch {
    /// Datagram `i` of the last [`RecvBatch::recv`], writable (the media
    /// relay renumbers a payload type in place and sends the same bytes).
    pub fn get_mut(&mut self, i: usize) -> Option<(Option<SocketAddr>, &mut [u8])> {
        let from = self.get(i)?.0;
        let len = self.lens[i];
        Some((from, &mut self.bufs[i][..len]))
    }

    /// Sends datagrams of the last [`RecvBatch::recv`] from `fd`, each to
    /// its destination, in one `sendmmsg`: `picks` are (datagram index,
    /// destination), at most [`BATCH`]. Returns how many went; the rest are
    /// dropped (a relay does not wait: a late RTP packet is a lost one).
    /// No allocation.
    pub fn forward(&mut self, fd: RawFd, picks: &[(usize, SocketAddr)]) -> io::Result<usize> {
        let n = picks.len().min(BATCH);
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: zeroed headers, iovecs and sockaddr_storage are valid.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdr: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        let mut names: [libc::sockaddr_storage; BATCH] = unsafe { zeroed() };
        let mut name_lens = [0 as libc::socklen_t; BATCH];
        for (k, (i, to)) in picks.iter().take(n).enumerate() {
            let sa = SockAddr::from(*to);
            let len = (sa.len() as usize).min(size_of::<libc::sockaddr_storage>());
            // SAFETY: copies `len` bytes of a valid sockaddr into storage
            // large enough for any.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    sa.as_ptr().cast::<u8>(),
                    (&mut names[k] as *mut libc::sockaddr_storage).cast::<u8>(),
                    len,
                );
            }
            name_lens[k] = len as libc::socklen_t;
            let i = (*i).min(BATCH - 1);
            point(
                &mut hdr[k],
                &mut iov[k],
                (self.bufs[i].as_mut_ptr(), self.lens[i]),
                (
                    (&mut names[k] as *mut libc::sockaddr_storage).cast(),
                    name_lens[k],
                ),
            );
        }
        // SAFETY: the headers point at buffers in `self` and addresses in
        // this frame, alive for the call.
        let r =
            unsafe { libc::sendmmsg(fd, hdr.as_mut_ptr(), n as libc::c_uint, libc::MSG_DONTWAIT) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(r as usize)
    }

    /// When datagram `i` of the last [`RecvBatch::recv`] reached the socket
    /// (wall clock), if the kernel stamped it (see [`enable_timestamps`]).
    pub fn arrived(&self, i: usize) -> Option<std::time::SystemTime> {
        if i >= self.n {
            return None;
        }
        // SAFETY: a msghdr that only describes the control buffer the
        // kernel filled for datagram i, with the length it reported; the
        // CMSG macros stay inside that length.
        unsafe {
            let mut m: libc::msghdr = zeroed();
            m.msg_control = self.controls[i].as_ptr().cast_mut().cast();
            m.msg_controllen = self.control_lens[i].min(size_of::<Control>()) as _;
            let mut c = libc::CMSG_FIRSTHDR(&m);
            while !c.is_null() {
                let h = &*c;
                if h.cmsg_level == libc::SOL_SOCKET
                    && h.cmsg_type == libc::SCM_TIMESTAMPNS
                    && h.cmsg_len as usize
                        >= libc::CMSG_LEN(size_of::<libc::timespec>() as u32) as usize
                {
                    let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    let since = std::time::Duration::new(
                        u64::try_from(ts.tv_sec).ok()?,
                        u32::try_from(ts.tv_nsec).ok()?,
                    );
                    return std::time::UNIX_EPOCH.checked_add(since);
                }
                c = libc::CMSG_NXTHDR(&m, c);
            }
        }
        None
    }
}

/// Datagrams waiting to be sent, in order.
#[derive(Default)]
pub struct SendQueue {
    items: Vec<(SocketAddr, Bytes)>,
    /// Index of the first item not yet sent.
    next: usize,
}

/// What one [`SendQueue::send`] did.
#[derive(Debug)]
pub enum Sent {
    /// This many more datagrams went out (the run loop only needs to know
    /// that it may go on; the tests check the count).
    Some(#[allow(dead_code)] usize),
    /// The socket buffer is full: wait for the socket to be writable.
    WouldBlock,
    /// The next datagram cannot be sent to its address: it was dropped.
    Failed(SocketAddr, io::Error),
}

impl SendQueue {
    pub fn push(&mut self, to: SocketAddr, data: Bytes) {
        self.items.push((to, data));
    }

    pub fn is_empty(&self) -> bool {
        self.next >= self.items.len()
    }

    /// One `sendmmsg` of up to [`BATCH`] of the waiting datagrams.
    pub fn send(&mut self, fd: RawFd) -> Sent {
        let end = self.items.len().min(self.next + BATCH);
        let todo = &self.items[self.next..end];
        if todo.is_empty() {
            return Sent::Some(0);
        }
        let addrs: Vec<SockAddr> = todo.iter().map(|(a, _)| SockAddr::from(*a)).collect();
        // SAFETY: as in `RecvBatch::recv`.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdr: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (_, data)) in todo.iter().enumerate() {
            point(
                &mut hdr[i],
                &mut iov[i],
                (data.as_ptr().cast_mut(), data.len()),
                (addrs[i].as_ptr().cast_mut().cast(), addrs[i].len()),
            );
        }
        // SAFETY: the headers point at the datagrams in `self.items` and the
        // addresses in `addrs`, all alive for the call; the kernel only
        // reads them (the iovec pointer is *mut only by the C signature).
        let r = unsafe {
            libc::sendmmsg(
                fd,
                hdr.as_mut_ptr(),
                todo.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if r > 0 {
            self.next += r as usize;
            self.compact();
            return Sent::Some(r as usize);
        }
        let e = io::Error::last_os_error();
        if r == 0 || e.kind() == io::ErrorKind::WouldBlock {
            return Sent::WouldBlock;
        }
        if e.kind() == io::ErrorKind::Interrupted {
            return Sent::Some(0);
        }
        // sendmmsg fails only when its first datagram fails: drop that one.
        let to = self.items[self.next].0;
        self.next += 1;
        self.compact();
        Sent::Failed(to, e)
    }

    /// Forgets what is waiting (no socket to send it on).
    pub fn clear(&mut self) {
        self.items.clear();
        self.next = 0;
    }

    /// Empties the queue, returning where its datagrams were going.
    pub fn drain_addrs(&mut self) -> Vec<SocketAddr> {
        let mut to: Vec<SocketAddr> = self.items[self.next.min(self.items.len())..]
            .iter()
            .map(|(a, _)| *a)
            .collect();
        to.dedup();
        self.clear();
        to
    }

    fn compact(&mut self) {
        if self.next >= self.items.len() {
            self.items.clear();
            self.next = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn pair() -> (UdpSocket, UdpSocket) {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        (a, b)
    }

    #[test]
    fn a_batch_goes_out_in_order_and_comes_back_with_its_sender() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut q = SendQueue::default();
        for i in 0..(BATCH + 3) {
            q.push(to, Bytes::from(format!("datagram {i}")));
        }
        assert!(matches!(q.send(a.as_raw_fd()), Sent::Some(BATCH)));
        assert!(!q.is_empty());
        assert!(matches!(q.send(a.as_raw_fd()), Sent::Some(3)));
        assert!(q.is_empty());

        let mut rb = RecvBatch::new(100);
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), BATCH);
        for i in 0..BATCH {
            let (from, data) = rb.get(i).unwrap();
            assert_eq!(from, Some(a.local_addr().unwrap()));
            assert_eq!(data, format!("datagram {i}").as_bytes());
        }
        assert!(rb.get(BATCH).is_none());
        // A short batch: the queue is drained.
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 3);
        assert_eq!(rb.get(2).unwrap().1, b"datagram 18");
        let e = rb.recv(b.as_raw_fd()).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn the_kernel_stamps_arrival_times_when_asked() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut rb = RecvBatch::new(100);
        a.send_to(b"plain", to).unwrap();
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 1);
        assert_eq!(rb.arrived(0), None, "not asked for: no stamp");
        enable_timestamps(b.as_raw_fd()).unwrap();
        let before = std::time::SystemTime::now();
        a.send_to(b"one", to).unwrap();
        a.send_to(b"two", to).unwrap();
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 2);
        let after = std::time::SystemTime::now();
        let (t0, t1) = (rb.arrived(0).unwrap(), rb.arrived(1).unwrap());
        assert!(
            before <= t0 && t0 <= t1 && t1 <= after,
            "{before:?} {t0:?} {t1:?} {after:?}"
        );
        assert_eq!(rb.arrived(2), None);
    }

    #[test]
    fn an_oversized_datagram_is_cut_at_the_slot() {
        let (a, b) = pair();
        a.send_to(&[b'x'; 300], b.local_addr().unwrap()).unwrap();
        let mut rb = RecvBatch::new(101);
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 1);
        assert_eq!(rb.get(0).unwrap().1.len(), 101);
    }

    #[test]
    fn a_datagram_that_cannot_go_is_dropped_and_the_rest_still_go() {
        let (a, b) = pair();
        let to = b.local_addr().unwrap();
        let mut q = SendQueue::default();
        q.push(to, Bytes::from_static(b"one"));
        // IPv6 destination from an IPv4 socket: EAFNOSUPPORT/EINVAL.
        let bad: SocketAddr = "[::1]:5060".parse().unwrap();
        q.push(bad, Bytes::from_static(b"two"));
        q.push(to, Bytes::from_static(b"three"));
        assert!(matches!(q.send(a.as_raw_fd()), Sent::Some(1)));
        match q.send(a.as_raw_fd()) {
            Sent::Failed(addr, _) => assert_eq!(addr, bad),
            other => panic!("expected a failure, got {other:?}"),
        }
        assert!(matches!(q.send(a.as_raw_fd()), Sent::Some(1)));
        assert!(q.is_empty());
        let mut rb = RecvBatch::new(100);
        assert_eq!(rb.recv(b.as_raw_fd()).unwrap(), 2);
        assert_eq!(rb.get(1).unwrap().1, b"three");
    }
}
