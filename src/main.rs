//! The `mynorfolk` binary: everything lives in the library; see `cli.rs` for the commands.

fn main() -> anyhow::Result<()> {
    mynorfolk::cli::run()
}
