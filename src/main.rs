use clap::Parser;

fn main() {
    inferscope::guard::install_hook();
    let cli = inferscope::cli::Cli::parse();
    let result = inferscope::guard::catch("running the command", || {
        if cli.command.is_none() {
            inferscope::app::run_window()
        } else {
            inferscope::cli::run(cli)
        }
    });
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
