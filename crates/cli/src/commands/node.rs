//! `wasmpod node`: install the shim and the containerd runtime handler on
//! this node, remove them, report their state, and label the node.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use wasmpod_node::{InstallOptions, SystemHost};

#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(subcommand)]
    command: NodeCommand,
}

#[derive(Debug, Subcommand)]
enum NodeCommand {
    /// Copy the shim and wasmpod into the bin dir and register runtime
    /// handler `wasmpod` in containerd's CRI config; with --policy, install
    /// the shim's trust policy too.
    Install(WithPolicy),
    /// Reverse what install did (the policy it installed too).
    Uninstall(Common),
    /// Report the installed shim, the config and whether CRI lists the
    /// handler; with --policy, whether that policy is installed.
    Status(WithPolicy),
    /// Set (or with --remove, remove) a label on a node through the
    /// Kubernetes API, with the pod's service account.
    Label(LabelArgs),
    /// Build the installer DaemonSet's image (this wasmpod, the shim beside
    /// it, sh, sleep, nsenter and their libraries) and push it to REF.
    Image(ImageArgs),
}

#[derive(Debug, Args)]
struct ImageArgs {
    /// Where to push it, e.g. registry.example.com/wasmpod-installer:0.1.0.
    #[arg(value_name = "REF")]
    reference: String,
    #[command(flatten)]
    registry: super::oci::RegistryArgs,
}

#[derive(Debug, Args)]
struct Common {
    /// The containerd config to edit. Default: k3s or RKE2's
    /// config.toml.tmpl, MicroK8s' containerd-template.toml, else
    /// /etc/containerd/config.toml.
    #[arg(long, value_name = "PATH")]
    containerd_config: Option<PathBuf>,
    /// Where the binaries go.
    #[arg(long, value_name = "DIR", default_value = "/usr/local/bin")]
    bin_dir: PathBuf,
    /// Restart containerd afterwards and wait until CRI lists the handler.
    #[arg(long)]
    restart: bool,
    /// Print what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Where the host's root is, for finding the config.
    #[arg(long, value_name = "DIR", default_value = "/")]
    host_root: PathBuf,
    /// containerd's CRI socket. Default: the distribution's.
    #[arg(long, value_name = "PATH")]
    cri_socket: Option<PathBuf>,
    /// How long --restart waits for the handler, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

#[derive(Debug, Args)]
struct WithPolicy {
    #[command(flatten)]
    common: Common,
    /// A trust policy for the shim (docs/signing.md): checked first, then
    /// installed as /etc/wasmpod/policy.toml (under --host-root) with the
    /// key files it names by relative paths. Without it, the node's policy
    /// is left as it is.
    #[arg(long, value_name = "PATH")]
    policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LabelArgs {
    /// The node (in the DaemonSet: spec.nodeName).
    #[arg(long, env = "NODE_NAME")]
    node: String,
    /// KEY=VALUE, or KEY with --remove.
    #[arg(default_value = "wasmpod.dev/ready=true")]
    label: String,
    #[arg(long)]
    remove: bool,
}

fn options(c: Common, policy: Option<PathBuf>) -> anyhow::Result<InstallOptions> {
    let exe = std::env::current_exe().context("cannot find the running wasmpod binary")?;
    let source_dir = exe
        .parent()
        .map(PathBuf::from)
        .context("the running wasmpod binary has no folder")?;
    Ok(InstallOptions {
        containerd_config: c.containerd_config,
        bin_dir: c.bin_dir,
        source_dir,
        source_cli: exe,
        host_root: c.host_root,
        cri_socket: c.cri_socket,
        restart: c.restart,
        dry_run: c.dry_run,
        timeout: Duration::from_secs(c.timeout),
        policy,
    })
}

pub fn run(args: NodeArgs) -> anyhow::Result<i32> {
    match args.command {
        NodeCommand::Install(WithPolicy { common: c, policy }) => {
            let host = SystemHost::new(&c.host_root);
            let plan = wasmpod_node::install(&options(c, policy)?, &host)?;
            print!("{plan}");
        }
        NodeCommand::Uninstall(c) => {
            let host = SystemHost::new(&c.host_root);
            let plan = wasmpod_node::uninstall(&options(c, None)?, &host)?;
            print!("{plan}");
        }
        NodeCommand::Status(WithPolicy { common: c, policy }) => {
            let host = SystemHost::new(&c.host_root);
            let report = wasmpod_node::status(&options(c, policy)?, &host);
            print!("{report}");
            return Ok(if report.ready() { 0 } else { 1 });
        }
        NodeCommand::Image(i) => {
            let reference = wasmpod_oci::ImageRef::parse(&i.reference)?;
            let exe = std::env::current_exe().context("cannot find the running wasmpod binary")?;
            let shim = exe.with_file_name("containerd-shim-wasmpod-v1");
            let files = wasmpod_node::image::installer_files(&exe, &shim)?;
            let built = wasmpod_node::image::installer_image(&files)?;
            let client = super::oci::client(&i.registry)?;
            let progress = super::oci::progress(true);
            let digest = super::oci::tokio()?.block_on(wasmpod_oci::image::push(
                &client,
                &reference,
                &built,
                progress.as_ref(),
            ))?;
            println!(
                "Pushed {reference} (installer image, {} files, digest {digest})",
                files.len()
            );
        }
        NodeCommand::Label(l) => {
            let (key, value) = match l.label.split_once('=') {
                Some((k, v)) if !l.remove => (k.to_string(), Some(v.to_string())),
                Some((k, _)) => (k.to_string(), None),
                None if l.remove => (l.label.clone(), None),
                None => anyhow::bail!("label {:?} is not KEY=VALUE", l.label),
            };
            wasmpod_node::label::label_node(&l.node, &key, value.as_deref())?;
            println!("node {}: {}", l.node, l.label);
        }
    }
    Ok(0)
}
