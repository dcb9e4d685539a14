//! `wasmpod login` and `wasmpod logout`.

use std::io::Read;

use anyhow::{Context, bail};
use clap::Args;
use wasmpod_oci::auth::Credentials;

use super::oci::{self, RegistryArgs};

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// User name.
    #[arg(short, long)]
    username: String,

    /// Read the password (or token) from stdin.
    #[arg(long)]
    password_stdin: bool,

    #[command(flatten)]
    registry_args: RegistryArgs,

    /// The registry, e.g. localhost:5000 or ghcr.io.
    #[arg(value_name = "REGISTRY")]
    registry: String,
}

pub fn login(args: LoginArgs) -> anyhow::Result<i32> {
    if !args.password_stdin {
        bail!(
            "give the password on stdin with --password-stdin (it is never taken from the command line)"
        );
    }
    let registry = normalize(&args.registry)?;
    let mut password = String::new();
    std::io::stdin()
        .read_to_string(&mut password)
        .context("cannot read the password from stdin")?;
    let password = password.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("the password on stdin is empty");
    }
    let creds = Credentials {
        username: args.username,
        password,
    };
    let client = oci::client(&args.registry_args)?;
    oci::tokio()?.block_on(client.check_login(&registry, &creds))?;
    let auth = oci::auth()?;
    auth.store(&registry, &creds)?;
    println!(
        "Login Succeeded ({registry}; saved in {})",
        auth.own_path().display()
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry to forget.
    #[arg(value_name = "REGISTRY")]
    registry: String,
}

pub fn logout(args: LogoutArgs) -> anyhow::Result<i32> {
    let registry = normalize(&args.registry)?;
    if oci::auth()?.erase(&registry)? {
        println!("Removed login credentials for {registry}");
    } else {
        println!("Not logged in to {registry}");
    }
    Ok(0)
}

/// `https://ghcr.io/` and `ghcr.io` are the same registry; Docker Hub has
/// several names.
fn normalize(registry: &str) -> anyhow::Result<String> {
    let r = registry
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    if r.is_empty() || r.contains('/') {
        bail!("invalid registry {registry:?}: expected a host name with an optional port");
    }
    Ok(match r {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    })
}
