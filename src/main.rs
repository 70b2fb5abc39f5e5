use clap::{CommandFactory, FromArgMatches};

fn main() {
    inferscope::guard::install_hook();
    let matches = inferscope::cli::Cli::command().get_matches();
    let cli = inferscope::cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
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
            inferscope::cli::run(cli, &matches)
        }
    });
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
