use clap::Parser;

fn main() {
    // Rust ignores SIGPIPE, so a write to a closed pipe (`inferscope compare ... | head -1`)
    // would panic; as cat, grep and ripgrep do, the command then just ends.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to its default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    inferscope::guard::install_hook();
    let cli = inferscope::cli::Cli::parse();
    let result = inferscope::guard::catch("running the command", || {
        if cli.command.is_none() {
            // A mistyped command would otherwise open the window: say so instead.
            if let Some(f) = cli.files.iter().find(|f| !f.exists()) {
                anyhow::bail!(
                    "no such file or command: {} (see inferscope --help)",
                    f.display()
                );
            }
            inferscope::app::run_window(cli.files)
        } else {
            inferscope::cli::run(cli)
        }
    });
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        // 3: a significant slowdown against --baseline; 1: anything else (2 is a usage error).
        let regressed = e
            .downcast_ref::<inferscope::bench::baseline::Regressed>()
            .is_some();
        std::process::exit(if regressed { 3 } else { 1 });
    }
}
