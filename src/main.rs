use clap::Parser;

fn main() {
    let cli = tokenaudit::cli::Cli::parse();
    if let Err(e) = tokenaudit::cli::run(cli) {
        eprintln!("tokenaudit: error: {e:#}");
        std::process::exit(1);
    }
}
