fn main() {
    keyceremony::secret::harden_process();
}
