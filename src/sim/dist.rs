//! Random numbers for the simulator: independent seeded streams on top of
//! [`crate::rng::Rng`] (xorshift64, its output scrambled by a multiply:
//! xorshift64*, whose bits are all good enough for sampling), and the few
//! distributions a scenario names.

use crate::rng::Rng;

/// splitmix64's finaliser: spreads a seed and a stream number apart.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One stream of random numbers (one per caller class, so that one class's
/// draws never shift another's: common random numbers across configs).
#[derive(Debug, Clone)]
pub struct Stream(Rng);

impl Stream {
    pub fn new(seed: u64, stream: u64) -> Stream {
        let s = mix(seed ^ mix(stream.wrapping_add(0x516d_5eed)));
        let mut r = Stream(Rng::new(s));
        // Leave the seed's neighbourhood behind.
        for _ in 0..4 {
            r.next_u64();
        }
        r
    }

    /// xorshift64* (Vigna): the xorshift64 state, multiplied on output.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64().wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// Exponential with this mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * self.uniform().ln()
    }

    /// Standard normal (Box-Muller, one of the pair).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// Uniform integer in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// A distribution of seconds (handling time, patience).
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Never (patience: the caller never hangs up while waiting).
    None,
    Fixed(f64),
    Exponential {
        mean: f64,
    },
    /// Log-normal given by its own mean and standard deviation.
    LogNormal {
        mean: f64,
        sd: f64,
        mu: f64,
        sigma: f64,
    },
    /// Drawn from observed values (each equally likely).
    Empirical(Vec<f64>),
}

impl Dist {
    pub fn lognormal(mean: f64, sd: f64) -> Dist {
        let sigma2 = (1.0 + (sd * sd) / (mean * mean)).ln();
        Dist::LogNormal {
            mean,
            sd,
            mu: mean.ln() - sigma2 / 2.0,
            sigma: sigma2.sqrt(),
        }
    }

    /// A sample; `f64::INFINITY` for [`Dist::None`].
    pub fn sample(&self, s: &mut Stream) -> f64 {
        match self {
            Dist::None => f64::INFINITY,
            Dist::Fixed(v) => *v,
            Dist::Exponential { mean } => s.exponential(*mean),
            Dist::LogNormal { mu, sigma, .. } => (mu + sigma * s.normal()).exp(),
            Dist::Empirical(v) => v[s.below(v.len() as u64) as usize],
        }
    }

    /// The mean (None for `None`).
    pub fn mean(&self) -> Option<f64> {
        match self {
            Dist::None => None,
            Dist::Fixed(v) => Some(*v),
            Dist::Exponential { mean } | Dist::LogNormal { mean, .. } => Some(*mean),
            Dist::Empirical(v) => Some(v.iter().sum::<f64>() / v.len() as f64),
        }
    }

    /// How the report names it.
    pub fn describe(&self) -> String {
        match self {
            Dist::None => "none".into(),
            Dist::Fixed(v) => format!("fixed {v} s"),
            Dist::Exponential { mean } => format!("exponential, mean {mean} s"),
            Dist::LogNormal { mean, sd, .. } => format!("log-normal, mean {mean} s, sd {sd} s"),
            Dist::Empirical(v) => format!("empirical, {} values", v.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(d: &Dist, n: usize) -> (f64, f64) {
        let mut s = Stream::new(3, 0);
        let xs: Vec<f64> = (0..n).map(|_| d.sample(&mut s)).collect();
        let m = xs.iter().sum::<f64>() / n as f64;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1) as f64;
        (m, v.sqrt())
    }

    #[test]
    fn samples_have_the_moments_they_are_given() {
        let (m, sd) = moments(&Dist::Exponential { mean: 120.0 }, 200_000);
        assert!((m / 120.0 - 1.0).abs() < 0.01, "{m}");
        assert!((sd / 120.0 - 1.0).abs() < 0.02, "{sd}");
        let (m, sd) = moments(&Dist::lognormal(90.0, 60.0), 200_000);
        assert!((m / 90.0 - 1.0).abs() < 0.01, "{m}");
        assert!((sd / 60.0 - 1.0).abs() < 0.03, "{sd}");
        let (m, _) = moments(&Dist::Empirical(vec![1.0, 2.0, 6.0]), 60_000);
        assert!((m / 3.0 - 1.0).abs() < 0.02, "{m}");
    }

    #[test]
    fn streams_repeat_per_seed_and_differ_per_stream() {
        let a: Vec<u64> = (0..4).map(|_| Stream::new(1, 0).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Stream::new(1, 0).next_u64(), Stream::new(1, 1).next_u64());
        assert_ne!(Stream::new(1, 0).next_u64(), Stream::new(2, 0).next_u64());
        let mut s = Stream::new(9, 9);
        let mut buckets = [0u32; 10];
        for _ in 0..100_000 {
            buckets[s.below(10) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|b| (9_500..10_500).contains(b)),
            "{buckets:?}"
        );
    }
}
