use clap::Parser;

fn main() {
    for warning in keyceremony::secret::harden_process() {
        eprintln!("warning: {warning}");
    }
    let cli = keyceremony::cli::Cli::parse();
    std::process::exit(keyceremony::commands::run(cli));
}
