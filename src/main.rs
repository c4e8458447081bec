use clap::Parser;

mod cli;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("tokenaudit: error: {}", cli::error_line(&e));
        std::process::exit(1);
    }
}
