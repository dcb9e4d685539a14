//! The plan as text for `up --dry-run`: one line per pod, container, job,
//! service and warning, stable for a given input, and never a Secret's
//! value (`<secret>` instead; Secret files show names only).

use std::fmt::{self, Display, Formatter, Write as _};

use crate::plan::{
    Arg, ContainerPlan, Image, MountSource, Owner, Plan, PodPlan, Probe, ProbeAction, PullPolicy,
    RestartPolicy,
};

impl Display for Plan {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for pod in &self.pods {
            pod_lines(f, "pod", pod, "")?;
        }
        for job in &self.jobs {
            let extra = format!(
                " completions={} parallelism={} backoffLimit={}",
                job.completions, job.parallelism, job.backoff_limit
            );
            pod_lines(f, "job", &job.template, &extra)?;
        }
        for s in &self.services {
            write!(f, "service {}", qualified(&s.namespace, &s.name))?;
            if s.ports.is_empty() {
                write!(f, " (no ports)")?;
            }
            for (i, p) in s.ports.iter().enumerate() {
                f.write_str(if i == 0 { " " } else { "; " })?;
                if let Some(name) = &p.name {
                    write!(f, "{name} ")?;
                }
                write!(f, "{} ->", p.port)?;
                if p.endpoints.is_empty() {
                    write!(f, " (no pods)")?;
                }
                for (j, e) in p.endpoints.iter().enumerate() {
                    let sep = if j == 0 { " " } else { ", " };
                    write!(f, "{sep}{}:{}", e.pod, e.port)?;
                }
            }
            writeln!(f)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

fn qualified(namespace: &str, name: &str) -> String {
    if namespace == "default" {
        name.to_string()
    } else {
        format!("{namespace}/{name}")
    }
}

fn pod_lines(f: &mut Formatter<'_>, what: &str, pod: &PodPlan, extra: &str) -> fmt::Result {
    write!(f, "{what} {}", qualified(&pod.namespace, &pod.name))?;
    if let Owner::Deployment { name, replica } = &pod.owner {
        write!(f, " (Deployment/{name} replica {replica})")?;
    }
    let restart = match pod.restart_policy {
        RestartPolicy::Always => "Always",
        RestartPolicy::OnFailure => "OnFailure",
        RestartPolicy::Never => "Never",
    };
    write!(
        f,
        "{extra} restart={restart} grace={}s",
        pod.termination_grace_period_seconds
    )?;
    if let Some(stack) = pod.max_wasm_stack {
        write!(f, " max-wasm-stack={}", bytes(stack))?;
    }
    if let Some(n) = pod.instance_reuse.count {
        write!(f, " max-instance-reuse-count={n}")?;
    }
    if let Some(n) = pod.instance_reuse.concurrent {
        write!(f, " max-instance-concurrent-reuse-count={n}")?;
    }
    if !pod.labels.is_empty() {
        let labels: Vec<String> = pod.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        write!(f, " labels={{{}}}", labels.join(","))?;
    }
    writeln!(f)?;
    for c in &pod.containers {
        writeln!(f, "  container {}", ContainerLine(c))?;
    }
    Ok(())
}

struct ContainerLine<'a>(&'a ContainerPlan);

fn args(out: &mut String, args: &[Arg]) {
    for a in args {
        if a.secret {
            out.push_str(", <secret>");
        } else {
            let _ = write!(out, ", {:?}", a.value);
        }
    }
}

/// `64Mi` for whole binary units, the byte count otherwise.
pub(crate) fn bytes(n: u64) -> String {
    for (shift, suffix) in [(40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")] {
        if n != 0 && n.is_multiple_of(1u64 << shift) {
            return format!("{}{suffix}", n >> shift);
        }
    }
    n.to_string()
}

fn probe(p: &Probe) -> String {
    let action = match &p.action {
        ProbeAction::HttpGet { path, port } => format!("httpGet {path} port {port}"),
        ProbeAction::TcpSocket { port } => format!("tcpSocket port {port}"),
        ProbeAction::Exec { command } => format!("exec {command:?}"),
    };
    format!(
        "({action}, delay={}s period={}s timeout={}s failure={} success={})",
        p.initial_delay_seconds,
        p.period_seconds,
        p.timeout_seconds,
        p.failure_threshold,
        p.success_threshold
    )
}

impl Display for ContainerLine<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let c = self.0;
        write!(f, "{}", c.name)?;
        match &c.image {
            Image::Oci(r) => write!(f, " image={r}")?,
            Image::File(p) => write!(f, " image=file://{}", p.display())?,
        }
        let pull = match c.pull_policy {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        };
        write!(f, " pull={pull}")?;
        let mut argv = String::new();
        if c.command.is_empty() {
            argv.push_str(", <entrypoint>");
            if c.args.is_empty() {
                argv.push_str(", <cmd>");
            }
        } else {
            args(&mut argv, &c.command);
        }
        args(&mut argv, &c.args);
        write!(f, " argv=[{}]", argv.trim_start_matches(", "))?;
        if !c.env.is_empty() {
            let env: Vec<String> = c
                .env
                .iter()
                .map(|e| {
                    if e.secret {
                        format!("{}=<secret>", e.name)
                    } else {
                        format!("{}={:?}", e.name, e.value)
                    }
                })
                .collect();
            write!(f, " env=[{}]", env.join(", "))?;
        }
        if let Some(w) = &c.working_dir {
            write!(f, " workingDir={w}")?;
        }
        for m in &c.mounts {
            let mode = if m.read_only { "ro" } else { "rw" };
            let source = match &m.source {
                MountSource::EmptyDir => "emptyDir".to_string(),
                MountSource::HostPath { path, create } => format!(
                    "hostPath {}{}",
                    path.display(),
                    if *create { " (create)" } else { "" }
                ),
                MountSource::Files { files, secret } => {
                    let names: Vec<String> =
                        files.iter().map(|(p, _)| p.display().to_string()).collect();
                    let kind = if *secret { "secret" } else { "configMap" };
                    format!("{kind} files [{}]", names.join(", "))
                }
            };
            write!(
                f,
                " mount={}:{} ({}, {source})",
                m.volume, m.guest_path, mode
            )?;
        }
        if let Some(m) = c.memory_limit {
            write!(f, " memory={}", bytes(m))?;
        }
        if let Some(cpu) = c.cpu_limit {
            write!(f, " cpu={cpu}m")?;
        }
        if !c.ports.is_empty() {
            let ports: Vec<String> = c
                .ports
                .iter()
                .map(|p| match &p.name {
                    Some(n) => format!("{n}:{}", p.container_port),
                    None => p.container_port.to_string(),
                })
                .collect();
            write!(f, " ports=[{}]", ports.join(", "))?;
        }
        if let Some(p) = &c.liveness_probe {
            write!(f, " liveness={}", probe(p))?;
        }
        if let Some(p) = &c.readiness_probe {
            write!(f, " readiness={}", probe(p))?;
        }
        Ok(())
    }
}

impl Plan {
    /// The same text as `Display`: what `wasmpod up --dry-run` prints.
    pub fn render(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn memory_is_shown_in_binary_units() {
        assert_eq!(bytes(64 << 20), "64Mi");
        assert_eq!(bytes(1 << 30), "1Gi");
        assert_eq!(bytes(1000), "1000");
        assert_eq!(bytes(0), "0");
    }
}
