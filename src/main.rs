use clap::Parser;

fn main() {
    keyceremony::secret::harden_process();
    let cli = keyceremony::cli::Cli::parse();
    std::process::exit(keyceremony::commands::run(cli));
}
