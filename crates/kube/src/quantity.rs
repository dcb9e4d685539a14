//! Kubernetes resource quantities (`64Mi`, `1G`, `512M`, `1.5Gi`, `500m`).
//!
//! Pure parsing, shared by manifests' `resources.limits` and the CLI's
//! `--memory` and `--cpus` flags, so both read a limit the same way. It
//! lives with the manifest model, not in the engine: the engine takes
//! bytes and thousandths of a CPU.
//!
//! The grammar follows Kubernetes' `resource.Quantity`: a decimal number,
//! then an optional binary suffix (`Ki Mi Gi Ti Pi Ei`), decimal suffix
//! (`k M G T P E`, and `m` for thousandths) or exponent (`1e6`).

use std::fmt;

/// Why a quantity did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {input:?}: {reason}")]
pub struct QuantityError {
    input: String,
    reason: &'static str,
}

/// A non-negative resource quantity, kept exact in thousandths so that both
/// memory (`64Mi`) and CPU (`500m`) fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity {
    millis: u128,
}

impl Quantity {
    /// Parses Kubernetes quantity syntax.
    pub fn parse(input: &str) -> Result<Self, QuantityError> {
        let err = |reason| QuantityError {
            input: input.to_string(),
            reason,
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        let s = s.strip_prefix('+').unwrap_or(s);
        if s.starts_with('-') {
            return Err(err("must not be negative"));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        if number.is_empty() || number == "." {
            return Err(err("expected a number"));
        }
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if frac_part.contains('.') {
            return Err(err("more than one decimal point"));
        }
        // Multiplier as (numerator, denominator) of thousandths.
        let (mul, div): (u128, u128) = match suffix {
            "" => (1000, 1),
            "m" => (1, 1),
            "k" => (1000u128.pow(2), 1),
            "M" => (1000u128.pow(3), 1),
            "G" => (1000u128.pow(4), 1),
            "T" => (1000u128.pow(5), 1),
            "P" => (1000u128.pow(6), 1),
            "E" => (1000u128.pow(7), 1),
            "Ki" => (1000 << 10, 1),
            "Mi" => (1000 << 20, 1),
            "Gi" => (1000 << 30, 1),
            "Ti" => (1000 << 40, 1),
            "Pi" => (1000 << 50, 1),
            "Ei" => (1000 << 60, 1),
            exp if exp.starts_with(['e', 'E']) => {
                let e: u32 = exp[1..]
                    .parse()
                    .map_err(|_| err("exponent must be a whole number"))?;
                if e > 18 {
                    return Err(err("too large"));
                }
                (1000 * 10u128.pow(e), 1)
            }
            _ => return Err(err("unknown suffix (use Ki, Mi, Gi, Ti, k, M, G, T or m)")),
        };
        if frac_part.len() > 18 {
            return Err(err("too many decimal places"));
        }
        let digits: u128 = format!("{int_part}{frac_part}")
            .parse()
            .map_err(|_| err("too large"))?;
        let scale = 10u128.pow(frac_part.len() as u32);
        let millis = digits.checked_mul(mul).ok_or_else(|| err("too large"))? / (scale * div);
        Ok(Self { millis })
    }

    /// The value as a whole number of units, rounded up (Kubernetes rounds
    /// fractional bytes up).
    pub fn value(self) -> u128 {
        self.millis.div_ceil(1000)
    }

    /// The value in thousandths of a unit (millicores for CPU).
    pub fn millis(self) -> u128 {
        self.millis
    }

    /// The value as bytes, for memory limits.
    pub fn bytes(self) -> Result<u64, QuantityError> {
        u64::try_from(self.value()).map_err(|_| QuantityError {
            input: self.to_string(),
            reason: "too large",
        })
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.millis.is_multiple_of(1000) {
            write!(f, "{}", self.millis / 1000)
        } else {
            write!(f, "{}m", self.millis)
        }
    }
}

impl std::str::FromStr for Quantity {
    type Err = QuantityError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::Quantity;

    fn bytes(s: &str) -> u64 {
        Quantity::parse(s).expect(s).bytes().expect(s)
    }

    #[test]
    fn binary_suffixes() {
        assert_eq!(bytes("64Mi"), 64 << 20);
        assert_eq!(bytes("1Ki"), 1024);
        assert_eq!(bytes("2Gi"), 2 << 30);
        assert_eq!(bytes("1Ti"), 1 << 40);
        assert_eq!(bytes("1.5Gi"), 3 << 29);
    }

    #[test]
    fn decimal_suffixes_and_plain_numbers() {
        assert_eq!(bytes("1G"), 1_000_000_000);
        assert_eq!(bytes("512M"), 512_000_000);
        assert_eq!(bytes("10k"), 10_000);
        assert_eq!(bytes("123"), 123);
        assert_eq!(bytes("1e6"), 1_000_000);
        assert_eq!(bytes("+5"), 5);
        assert_eq!(bytes(" 7 "), 7);
    }

    #[test]
    fn millis_for_cpu() {
        assert_eq!(Quantity::parse("500m").expect("500m").millis(), 500);
        assert_eq!(Quantity::parse("0.25").expect("0.25").millis(), 250);
        assert_eq!(Quantity::parse("2").expect("2").millis(), 2000);
        // Fractions of a byte round up, as Kubernetes does.
        assert_eq!(bytes("1500m"), 2);
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            " ",
            "-1",
            "Mi",
            "12Q",
            "1.2.3",
            "1mi",
            "64MB",
            "1e",
            "1e99",
            ".",
            "abc",
            "99999999999999999999999999999999999999999Ei",
        ] {
            let err = Quantity::parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid quantity"), "{err}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in ["64Mi", "500m", "1G"] {
            let q = Quantity::parse(s).expect(s);
            assert_eq!(Quantity::parse(&q.to_string()).expect("again"), q);
        }
    }
}
