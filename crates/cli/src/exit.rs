//! Exit codes, in one place. They follow docker's and the shell's
//! conventions, so scripts written for `docker run` read them the same way.
//! The guest-side codes (124, 134, 128+N) come from
//! `wasmpod_engine::ExitStatus::code`; this file adds the host-side one.

/// The runtime itself failed: bad flags or input, missing files, invalid
/// modules, unknown imports.
pub const HOST_FAILURE: i32 = 125;

/// The trust policy refused the image: denied, not pinned, or without a
/// valid signature by an allowed key. Nothing was stored as trusted or
/// run. (126 is the shell's and docker's "cannot be invoked".)
pub const NOT_TRUSTED: i32 = 126;

/// Shown at the end of `--help`.
pub const HELP: &str = "\
Exit codes:
  N     the guest's own exit code, passed through
  124   the guest was stopped by --timeout
  125   wasmpod itself failed: bad flag or input, missing or invalid file,
        unknown import, invalid volume or quantity, invalid policy or key
  126   the trust policy refused the image: denied, not a pinned digest, or
        no valid signature by an allowed key (docs/signing.md)
  134   the guest trapped (the trap and a Wasm backtrace go to stderr)
  128+N the guest was stopped by signal N (130 for SIGINT, 143 for SIGTERM)";

/// Shown at the end of `wasmpod up --help`.
pub const UP_HELP: &str = "\
Exit codes:
  0     everything ran to completion and succeeded (or up was stopped
        without a signal)
  1     everything ran to completion and something failed (a Job past its
        backoffLimit, a run-once pod with a failed container)
  125   wasmpod itself failed: invalid YAML, an unknown kind or unsupported
        field, a missing ConfigMap, Secret or image, a Service port in use
  126   the trust policy refused an image (docs/signing.md)
  128+N stopped by signal N (130 for Ctrl-C, 143 for SIGTERM)";

/// Prints the error as cargo and uv do, and returns its exit code: one
/// line saying what failed, then each cause on its own line.
pub fn host_failure(err: &anyhow::Error) -> i32 {
    eprint!("{}", report(err));
    code(err)
}

/// The one place an error becomes an exit code: [`NOT_TRUSTED`] for a
/// trust refusal anywhere in the chain, else [`HOST_FAILURE`].
fn code(err: &anyhow::Error) -> i32 {
    let refused = err.chain().any(|e| {
        matches!(
            e.downcast_ref::<wasmpod_oci::OciError>(),
            Some(wasmpod_oci::OciError::NotTrusted { .. })
        )
    });
    if refused { NOT_TRUSTED } else { HOST_FAILURE }
}

/// `wasmpod: error: TOP`, then `  caused by: CAUSE` for each cause, outer
/// first. Each layer's message says only what that layer adds, so nothing
/// is repeated from one line to the next.
fn report(err: &anyhow::Error) -> String {
    let mut chain = err.chain();
    let mut text = match chain.next() {
        Some(top) => format!("wasmpod: error: {}\n", indent(&top.to_string())),
        None => String::new(),
    };
    for cause in chain {
        text.push_str(&format!("  caused by: {}\n", indent(&cause.to_string())));
    }
    text
}

/// Keeps a multi-line message (a parser's, with a snippet) under its line.
fn indent(message: &str) -> String {
    message.trim_end().replace('\n', "\n    ")
}

/// Handles a command-line parse failure: help and version print normally and
/// exit 0; anything else is one line on stderr and exit 125.
pub fn usage_error(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let code = if err.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            HOST_FAILURE
        } else {
            0
        };
        let _ = err.print();
        exit(code)
    }
    let rendered = err.render().to_string();
    let message: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    eprintln!("wasmpod: error: {message} (see 'wasmpod --help')");
    exit(HOST_FAILURE)
}

/// Exits without running destructors: a guest's stdin reader may still be
/// blocked in a read, and waiting for it would hang.
pub fn exit(code: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_cause_gets_its_own_line() {
        let err = anyhow::anyhow!("root cause")
            .context("middle")
            .context("top");
        assert_eq!(
            super::report(&err),
            "wasmpod: error: top\n  caused by: middle\n  caused by: root cause\n"
        );
        let err = anyhow::anyhow!("no such file");
        assert_eq!(super::report(&err), "wasmpod: error: no such file\n");
    }

    #[test]
    fn a_trust_refusal_exits_126_wherever_it_is_in_the_chain() {
        let refused = || wasmpod_oci::OciError::NotTrusted {
            reference: "r".into(),
            rule: "the default rule (deny)".into(),
            reason: "the policy denies it".into(),
        };
        assert_eq!(super::code(&anyhow::Error::new(refused())), 126);
        assert_eq!(
            super::code(&anyhow::Error::new(refused()).context("cannot run r")),
            126
        );
        assert_eq!(super::code(&anyhow::anyhow!("no such file")), 125);
    }

    #[test]
    fn a_multi_line_cause_stays_under_its_line() {
        let err = anyhow::anyhow!("expected `)`\n --> x.wat:1:2\n").context("invalid WebAssembly");
        assert_eq!(
            super::report(&err),
            "wasmpod: error: invalid WebAssembly\n  caused by: expected `)`\n     --> x.wat:1:2\n"
        );
    }
}
