use clap::Parser;

fn main() {
    for warning in keyceremony::secret::harden_process() {
        eprintln!("warning: {warning}");
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match keyceremony::cli::Cli::try_parse_from(&args) {
        Ok(cli) => keyceremony::commands::run(cli),
        Err(e) => keyceremony::commands::parse_failure(&e, &args),
    };
    std::process::exit(code);
}
