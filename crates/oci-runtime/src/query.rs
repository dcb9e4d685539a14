//! What callers read: `state ID`, `list` and `ps ID`.

use std::io::Write as _;

use anyhow::bail;

use crate::args::{Global, Sub};
use crate::state::{Root, Status, state_json};

/// `state ID`: the OCI runtime spec's state, as JSON.
pub fn state(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    print_json(&state_json(&root, &record))
}

/// `list [--format table|json] [--quiet]`.
pub fn list(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let root = Root::new(&global.root);
    let mut rows = Vec::new();
    for id in root.ids()? {
        if let Ok(record) = root.load(&id) {
            rows.push(state_json(&root, &record));
        }
    }
    rows.extend(native_rows(global));
    let mut out = std::io::stdout().lock();
    if sub.is_set("quiet") {
        for r in &rows {
            writeln!(out, "{}", r["id"].as_str().unwrap_or_default())?;
        }
        return Ok(());
    }
    match sub.value("format").unwrap_or("table") {
        "json" => print_json(&serde_json::Value::Array(rows)),
        "table" => {
            writeln!(out, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")?;
            for r in &rows {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}\troot",
                    r["id"].as_str().unwrap_or_default(),
                    r["pid"],
                    r["status"].as_str().unwrap_or_default(),
                    r["bundle"].as_str().unwrap_or_default(),
                    r["created"].as_str().unwrap_or_default(),
                )?;
            }
            Ok(())
        }
        other => bail!("list: --format {other}: use table or json"),
    }
}

/// The native runtime's containers, when one is configured and has any.
fn native_rows(global: &Global) -> Vec<serde_json::Value> {
    let root = crate::native::root(global);
    let Ok(Some(native)) = crate::native::configured() else {
        return Vec::new();
    };
    if !root.is_dir() {
        return Vec::new();
    }
    std::process::Command::new(native)
        .arg("--root")
        .arg(&root)
        .args(["list", "--format", "json"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice::<Option<Vec<serde_json::Value>>>(&o.stdout).ok())
        .flatten()
        .unwrap_or_default()
}

/// `ps [--format table|json] ID`: the container's processes.
pub fn ps(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    if root.status(&record) == Status::Stopped {
        bail!("container {id} is not running");
    }
    let mut pids = wasmpod_bundle::cgroup::procs(&record.cgroups);
    if let Some(init) = record.init
        && !pids.contains(&init.pid)
    {
        pids.push(init.pid);
    }
    pids.sort_unstable();
    match sub.value("format").unwrap_or("table") {
        "json" => print_json(&serde_json::json!(pids)),
        "table" => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "PID\tCMD")?;
            for pid in pids {
                let cmd = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                writeln!(out, "{pid}\t{}", cmd.trim())?;
            }
            Ok(())
        }
        other => bail!("ps: --format {other}: use table or json"),
    }
}

fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
