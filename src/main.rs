use clap::Parser;

fn main() {
    // A panic is a bug in Inferscope, never the user's fault: say so plainly.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("Internal error in Inferscope (please report it): {info}");
    }));
    let cli = inferscope::cli::Cli::parse();
    let result = if cli.command.is_none() {
        inferscope::app::run_window()
    } else {
        inferscope::cli::run(cli)
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
