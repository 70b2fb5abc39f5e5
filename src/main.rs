use clap::Parser;

fn main() {
    // A panic is a bug in Inferscope, never the user's fault: say so plainly.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("Internal error in Inferscope (please report it): {info}");
    }));
    let cli = inferscope::cli::Cli::parse();
    if let Err(e) = inferscope::cli::run(cli) {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}
