//! wasmpod's own WASI 0.3 guests (`tests/guests/p3-*.wat`) under
//! `wasmpod run`, for what the conformance fixtures do not cover: a
//! command that exits with the code it is given. (The shim's container
//! tests run it too.)

mod common;

use common::*;
use wasmpod_test_guests as guests;

#[test]
fn a_wasi_p3_command_writes_through_its_stream_and_exits_with_its_code() {
    let w = Wasmpod::new();
    for (arg, code) in [
        (None, 0),
        (Some("3"), 3),
        (Some("0"), 0),
        (Some("255"), 255),
        (Some("err"), 1),
        (Some("256"), 2),
        (Some("three"), 2),
    ] {
        let mut args = vec![guests::P3_EXIT_WAT_WASM];
        args.extend(arg);
        let o = w.run(&args);
        assert_code(&o, code);
        // The line is out before the exit, whichever way the guest ends.
        assert_eq!(
            stdout(&o),
            format!("p3-exit: {}\n", arg.unwrap_or("ok")),
            "{arg:?}"
        );
        assert_eq!(stderr(&o), "", "{arg:?}");
    }

    let o = w.run(&["--verbose", guests::P3_EXIT_WAT_WASM, "7"]);
    assert_code(&o, 7);
    assert_eq!(stdout(&o), "p3-exit: 7\n");
    assert!(
        stderr(&o).contains("is a WASI 0.3 component (command), sha256:"),
        "{}",
        stderr(&o)
    );
}
