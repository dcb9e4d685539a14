//! Restarting containerd through systemd: `systemctl restart` of the one
//! unit of the flavor's services that is active. A unit that is not
//! running is never started (a k3s server unit on an agent, a second
//! containerd beside a hand-started one): that is worse than failing.

use crate::NodeError;
use crate::host::SystemHost;

/// Restarts the active unit among `services`; returns how, for the report.
pub(crate) fn restart(services: &[&str]) -> Result<String, NodeError> {
    let service = active_unit(services, |s| {
        let mut c = SystemHost::command("systemctl");
        c.args(["is-active", "--quiet", s]);
        SystemHost::run(c).is_ok()
    })?;
    let mut c = SystemHost::command("systemctl");
    c.args(["restart", service]);
    SystemHost::run(c).map_err(NodeError::Restart)?;
    Ok(format!("systemctl restart {service}"))
}

/// The first of `services` that `is_active` says runs.
fn active_unit<'a>(
    services: &[&'a str],
    is_active: impl Fn(&str) -> bool,
) -> Result<&'a str, NodeError> {
    services
        .iter()
        .find(|s| is_active(s))
        .copied()
        .ok_or_else(|| NodeError::NoActiveUnit(services.iter().map(|s| s.to_string()).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_active_unit_is_restarted() {
        let services = ["k3s", "k3s-agent"];
        assert_eq!(
            active_unit(&services, |s| s == "k3s-agent").expect("active"),
            "k3s-agent"
        );
        assert_eq!(active_unit(&services, |_| true).expect("active"), "k3s");
        let err = active_unit(&services, |_| false).expect_err("none active");
        assert!(matches!(err, NodeError::NoActiveUnit(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "restarting containerd: none of the systemd units k3s, k3s-agent is active; restart containerd yourself"
        );
    }
}
