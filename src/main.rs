use clap::Parser;

fn main() {
    let cli = tokenaudit::cli::Cli::parse();
    if let Err(e) = tokenaudit::cli::run(cli) {
        eprintln!("tokenaudit: error: {}", tokenaudit::cli::error_line(&e));
        std::process::exit(1);
    }
}
