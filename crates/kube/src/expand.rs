//! `$(VAR)` expansion as the kubelet does it for env values, `command` and
//! `args`: `$(NAME)` is replaced by the variable's value, `$$` is a literal
//! `$`, a reference to an unknown variable or an unclosed `$(` is left as
//! written, and any other `$` is kept.

/// Expands `input`. `lookup` returns a variable's value and whether it holds
/// Secret data; the second result says whether any Secret data was used.
/// `None` when the result would be longer than `limit` bytes: values are
/// expanded from values already expanded, so each step can multiply the
/// length, and the expansion stops before it is held.
pub(crate) fn expand<'a>(
    input: &str,
    lookup: impl Fn(&str) -> Option<(&'a str, bool)>,
    limit: usize,
) -> Option<(String, bool)> {
    let mut out = String::with_capacity(input.len().min(limit));
    let mut secret = false;
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        if out.len() > limit {
            return None;
        }
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let mut chars = after.chars();
        match chars.next() {
            // A trailing `$` is kept.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after.find(')') {
                Some(close) => {
                    let name = &after[1..close];
                    match lookup(name) {
                        Some((value, is_secret)) => {
                            if out.len() + value.len() > limit {
                                return None;
                            }
                            out.push_str(value);
                            secret |= is_secret;
                        }
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 1..];
                }
                // Unclosed: keep `$(` and go on after it.
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = chars.as_str();
            }
        }
    }
    out.push_str(rest);
    (out.len() <= limit).then_some((out, secret))
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn ex(input: &str) -> String {
        let vars = [
            ("A", "alpha", false),
            ("B", "b$(A)", false),
            ("S", "pw", true),
        ];
        expand(
            input,
            |n| {
                vars.iter()
                    .find(|(k, _, _)| *k == n)
                    .map(|(_, v, s)| (*v, *s))
            },
            1 << 20,
        )
        .expect("within the limit")
        .0
    }

    #[test]
    fn references_are_replaced() {
        assert_eq!(ex("$(A)"), "alpha");
        assert_eq!(ex("x-$(A)-$(A)y"), "x-alpha-alphay");
        // Values are not expanded again.
        assert_eq!(ex("$(B)"), "b$(A)");
    }

    #[test]
    fn escapes_and_unknowns_are_kept() {
        assert_eq!(ex("$$(A)"), "$(A)");
        assert_eq!(ex("$$$(A)"), "$alpha");
        assert_eq!(ex("$$$$"), "$$");
        assert_eq!(ex("$(MISSING)"), "$(MISSING)");
        assert_eq!(ex("$(A"), "$(A");
        assert_eq!(ex("$(A $(A)"), "$(A $(A)");
        assert_eq!(ex("$A"), "$A");
        assert_eq!(ex("$"), "$");
        assert_eq!(ex("a$é"), "a$é");
        assert_eq!(ex("$()"), "$()");
        assert_eq!(ex("no refs"), "no refs");
    }

    #[test]
    fn secret_use_is_reported() {
        let lookup = |n: &str| (n == "S").then_some(("pw", true));
        assert_eq!(
            expand("--pw=$(S)", lookup, 100),
            Some(("--pw=pw".to_string(), true))
        );
        assert_eq!(
            expand("$$(S)", lookup, 100),
            Some(("$(S)".to_string(), false))
        );
    }

    #[test]
    fn an_expansion_past_the_limit_stops() {
        let big = "x".repeat(1000);
        let lookup = |n: &str| (n == "BIG").then_some((big.as_str(), false));
        let many = "$(BIG)".repeat(64);
        assert_eq!(expand(&many, lookup, 10_000), None);
        assert_eq!(
            expand("$(BIG)", lookup, 1000).map(|(s, _)| s.len()),
            Some(1000)
        );
        assert_eq!(expand(&"y".repeat(1001), lookup, 1000), None);
    }
}
