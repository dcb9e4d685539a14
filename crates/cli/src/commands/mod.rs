//! One module per subcommand (images, rmi and inspect share one; so do
//! login and logout).

pub mod images;
pub mod login;
pub mod node;
pub mod oci;
pub mod pull;
pub mod push;
pub mod run;
pub mod trust;
pub mod up;
