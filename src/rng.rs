//! The one small generator for tags, branches, Call-IDs and the `random`
//! strategy (xorshift64): fast and seeded, never for secrets (nonce keys
//! come from the seed mixed in the registrar's own way).

/// A xorshift64 generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is avoided).
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// 16 lowercase hex digits (what `format!("{x:016x}")` gives, without
    /// the formatting machinery: several go into every leg).
    pub fn token(&mut self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let x = self.next_u64();
        let mut out = String::with_capacity(16);
        for i in (0..16).rev() {
            out.push(char::from(DIGITS[((x >> (i * 4)) & 0xf) as usize]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hex_of_the_next_value_and_repeat_per_seed() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let t = a.token();
        assert_eq!(t.len(), 16);
        assert_eq!(t, format!("{:016x}", b.next_u64()));
        assert_ne!(a.token(), t);
    }
}
