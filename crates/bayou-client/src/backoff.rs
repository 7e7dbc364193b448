//! Retry delays: exponential, capped, with full jitter in the upper half so that many clients
//! dropped at once (a server restart) do not come back in lockstep.

use std::time::Duration;

pub(crate) fn delay(initial: Duration, max: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exponent = failures.saturating_sub(1).min(20);
    let base = initial.saturating_mul(1u32 << exponent).min(max);
    // Between half and all of the base delay.
    let jitter: f64 = rand::random();
    base.mul_f64(0.5 + jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_is_capped() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(2);
        assert_eq!(delay(initial, max, 0), Duration::ZERO);
        for failures in 1..40 {
            let d = delay(initial, max, failures);
            let base = (initial * 2u32.pow((failures - 1).min(20))).min(max);
            assert!(d >= base / 2 && d <= base, "{failures}: {d:?}");
        }
        assert!(delay(initial, max, 30) <= max);
    }
}
