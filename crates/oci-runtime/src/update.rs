//! `update [--resources FILE|-] [--memory N] [--cpu-quota N]
//! [--cpu-period N] ID`: new memory and CPU limits on the container's
//! cgroup. The engine's own limit on the guest's memory, set when the
//! guest started, stays: a lower cgroup limit still holds, a higher one
//! does not let the guest grow past its first limit.

use anyhow::{Context as _, bail};
use serde::Deserialize;

use crate::args::{Global, Sub};
use crate::state::{Root, Status};

#[derive(Debug, Default, Deserialize)]
struct Resources {
    #[serde(default)]
    memory: Option<Memory>,
    #[serde(default)]
    cpu: Option<Cpu>,
}

#[derive(Debug, Default, Deserialize)]
struct Memory {
    #[serde(default)]
    limit: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
struct Cpu {
    #[serde(default)]
    quota: Option<i64>,
    #[serde(default)]
    period: Option<u64>,
}

/// The flags `update` takes besides `--resources`.
const HONOURED: [&str; 3] = ["memory", "cpu-quota", "cpu-period"];

pub fn update(global: &Global, sub: &Sub) -> anyhow::Result<()> {
    let id = sub.id()?;
    if let Some((name, _)) = sub
        .flags
        .iter()
        .find(|(n, _)| n != "resources" && !HONOURED.contains(&n.as_str()))
    {
        bail!("update: --{name} is not supported by wasmpod-oci (memory and CPU limits are)");
    }
    let mut resources = match sub.value("resources") {
        None => Resources::default(),
        Some("-") => serde_json::from_reader(std::io::Read::take(std::io::stdin(), 1 << 20))
            .context("read the resources from stdin")?,
        Some(path) => wasmpod_bundle::read_json(std::path::Path::new(path))?,
    };
    let number = |name: &str| -> anyhow::Result<Option<i64>> {
        sub.value(name)
            .map(|v| {
                v.parse::<i64>()
                    .with_context(|| format!("update: --{name} {v}: not a number"))
            })
            .transpose()
    };
    if let Some(m) = number("memory")? {
        resources.memory.get_or_insert_default().limit = Some(m);
    }
    if let Some(q) = number("cpu-quota")? {
        resources.cpu.get_or_insert_default().quota = Some(q);
    }
    if let Some(p) = number("cpu-period")? {
        resources.cpu.get_or_insert_default().period = u64::try_from(p).ok();
    }
    let root = Root::new(&global.root);
    let record = root.load(id)?;
    if root.status(&record) == Status::Stopped {
        bail!("container {id} is not running");
    }
    if record.cgroups.is_empty() {
        bail!("container {id} has no cgroup to update (its spec named none)");
    }
    let memory = resources
        .memory
        .and_then(|m| m.limit)
        .and_then(|l| u64::try_from(l).ok())
        .filter(|l| *l > 0);
    let cpu = resources.cpu.and_then(|c| {
        let quota = u64::try_from(c.quota?).ok().filter(|q| *q > 0)?;
        Some((quota, c.period.filter(|p| *p > 0).unwrap_or(100_000)))
    });
    wasmpod_bundle::cgroup::set_limits(&record.cgroups, memory, cpu)
        .context("update the container's cgroup")?;
    Ok(())
}
