//! Single-thread bcrypt verifications per second at a given cost (default 12), the yardstick
//! for login throughput in bench/load.py: `cargo bench --bench bcrypt_rate -- 12`.

use std::time::{Duration, Instant};

fn main() {
    let cost = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse::<u32>().ok())
        .unwrap_or(12);
    let hash = bcrypt::hash("a password of a customer", cost).expect("hash");
    let started = Instant::now();
    let mut verified = 0u32;
    while started.elapsed() < Duration::from_secs(4) || verified < 3 {
        assert!(bcrypt::verify("a password of a customer", &hash).expect("verify"));
        verified += 1;
    }
    let rate = f64::from(verified) / started.elapsed().as_secs_f64();
    println!("BCRYPT_VERIFY_PER_SEC {rate:.3}");
}
