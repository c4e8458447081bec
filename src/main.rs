use clap::Parser;

mod cli;

fn main() {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => {}
        // Every command: a closed stdout ends the run quietly and successfully.
        Err(e) if cli::is_broken_pipe(&e) => {}
        Err(e) => {
            eprintln!("tokenaudit: error: {}", cli::error_line(&e));
            std::process::exit(1);
        }
    }
}
