// Links this binary at a fixed address: see the included file.
include!("../../build/link_fixed_address.rs");
