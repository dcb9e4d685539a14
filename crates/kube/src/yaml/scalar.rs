//! What a scalar's text means: the YAML 1.2 core schema (null, booleans,
//! integers in decimal, `0x`, `0o` and `0b`, floats with `.inf` and `.nan`)
//! for plain scalars, and the core tags (`!!str`, `!!int` ...) when a node
//! names one. Quoted scalars are always strings.

use super::value::Value;

/// The value of a plain (unquoted, untagged) scalar.
pub(crate) fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ => int(text)
            .or_else(|| float(text))
            .unwrap_or_else(|| Value::String(text.to_string())),
    }
}

/// The value of a scalar tagged with the core tag `!!name`, or `None`
/// when the text is not of that type.
pub(crate) fn tagged(name: &str, text: &str) -> Option<Value> {
    match name {
        "str" => Some(Value::String(text.to_string())),
        "null" => matches!(plain(text), Value::Null).then_some(Value::Null),
        "bool" => matches!(plain(text), Value::Bool(_)).then(|| plain(text)),
        "int" => int(text),
        "float" => match float(text).or_else(|| int(text))? {
            Value::Int(i) => Some(Value::Float(i as f64)),
            Value::UInt(u) => Some(Value::Float(u as f64)),
            other => Some(other),
        },
        _ => None,
    }
}

fn int(text: &str) -> Option<Value> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(d) = text.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = text.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = text.strip_prefix("0b") {
        (2, d)
    } else {
        (10, unsigned)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    if negative {
        let n = 0i128.checked_sub(i128::try_from(magnitude).ok()?)?;
        i64::try_from(n).ok().map(Value::Int)
    } else if let Ok(i) = i64::try_from(magnitude) {
        Some(Value::Int(i))
    } else {
        u64::try_from(magnitude).ok().map(Value::UInt)
    }
}

fn float(text: &str) -> Option<Value> {
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some(Value::Float(f64::NAN));
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") {
        let inf = if text.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
        return Some(Value::Float(inf));
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (body, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, frac)) => {
            digits(whole) && digits(frac) && !(whole.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !(mantissa_ok && exponent_ok) {
        return None;
    }
    text.parse().ok().map(Value::Float)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_follow_the_core_schema() {
        assert_eq!(plain(""), Value::Null);
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("True"), Value::Bool(true));
        assert_eq!(plain("yes"), Value::String("yes".into()));
        assert_eq!(plain("on"), Value::String("on".into()));
        assert_eq!(plain("-12"), Value::Int(-12));
        assert_eq!(plain("+12"), Value::Int(12));
        assert_eq!(plain("0x1F"), Value::Int(31));
        assert_eq!(plain("0o17"), Value::Int(15));
        assert_eq!(plain("18446744073709551615"), Value::UInt(u64::MAX));
        assert_eq!(plain("1.5"), Value::Float(1.5));
        assert_eq!(plain(".5"), Value::Float(0.5));
        assert_eq!(plain("1e3"), Value::Float(1000.0));
        assert_eq!(plain("-.inf"), Value::Float(f64::NEG_INFINITY));
        assert!(matches!(plain(".nan"), Value::Float(f) if f.is_nan()));
        for text in [
            "inf", "nan", "NaN", "1_000", "0x", "1e", ".", "-0x1", "64Mi", "500m",
        ] {
            assert_eq!(plain(text), Value::String(text.into()), "{text}");
        }
    }

    #[test]
    fn core_tags_convert_or_refuse() {
        assert_eq!(tagged("str", "12"), Some(Value::String("12".into())));
        assert_eq!(tagged("int", "12"), Some(Value::Int(12)));
        assert_eq!(tagged("float", "12"), Some(Value::Float(12.0)));
        assert_eq!(tagged("int", "x"), None);
        assert_eq!(tagged("binary", "x"), None);
    }
}
