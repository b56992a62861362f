//! The PC/SC library, opened when a token command first needs it.
//!
//! `pcsc-sys` declares the `SCard*` functions of pcsc-lite and, left to its
//! build script, links `-lpcsclite`: the binary then names `libpcsclite.so.1`
//! as a needed library and the dynamic loader refuses to start it, even for
//! `--version`, on a machine without it. `.cargo/config.toml` overrides that
//! build script (`links = "pcsc"`) so nothing is linked, and this module
//! defines the symbols `pcsc-sys` declares. Each one forwards to the function
//! of the same name in `libpcsclite.so.1`, opened with `dlopen` on first use.
//! Without the library every call answers `SCARD_E_NO_SERVICE`, and
//! [`load`] says what is missing, so the token layer can tell the user what
//! to install. Commands that need no token never touch it.
//!
//! The three protocol control structures (`g_rgSCardT0Pci` and friends) are
//! data symbols: ours carry the same values as pcsc-lite's, and
//! `SCardTransmit` swaps a pointer to ours for a pointer to the library's.
//!
//! rustc links a crate's `#[no_mangle]` symbols into every binary that uses
//! the crate, so everything built on the keyceremony library has them. A
//! test that calls the `yubikey` or `pcsc` crates directly must name this
//! module once (as `tests/pivsim_support` does with [`load`]), or its link
//! fails with undefined `SCard*` symbols.
//!
//! The shim is only built on Linux, the one family for which
//! `.cargo/config.toml` overrides the link (Windows and macOS link their
//! system PC/SC, which is always there).

#![allow(non_snake_case, non_upper_case_globals, clippy::missing_safety_doc)]

/// File names tried in turn: the runtime package's soname (Debian
/// `libpcsclite1`), then the development symlink.
pub const LIBRARY_NAMES: [&str; 2] = ["libpcsclite.so.1", "libpcsclite.so"];

/// What to install when the library is missing (Debian and derivatives).
pub const INSTALL_HINT: &str = "apt-get install libpcsclite1 pcscd";

/// Why the PC/SC library could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the PC/SC library {name} could not be loaded ({detail}). Install it (Debian: {hint}) and try again", name = LIBRARY_NAMES[0], hint = INSTALL_HINT)]
pub struct LoadError {
    /// The loader's own words for the first name tried.
    pub detail: String,
}

/// Opens the library once per process; later calls return the same answer.
/// Elsewhere than Linux the system's PC/SC is linked as usual: always `Ok`.
pub fn load() -> Result<(), LoadError> {
    #[cfg(target_os = "linux")]
    return shim::load();
    #[cfg(not(target_os = "linux"))]
    return Ok(());
}

#[cfg(target_os = "linux")]
mod shim {
    use std::ffi::{c_char, c_void};
    use std::sync::OnceLock;

    use pcsc::ffi::{
        DWORD, LONG, SCARDCONTEXT, SCARDHANDLE, SCARD_E_NO_SERVICE, SCARD_IO_REQUEST,
        SCARD_PROTOCOL_RAW, SCARD_PROTOCOL_T0, SCARD_PROTOCOL_T1, SCARD_READERSTATE,
    };

    use super::{LoadError, LIBRARY_NAMES};

    pub(super) fn load() -> Result<(), LoadError> {
        api().map(|_| ())
    }

    fn api() -> Result<&'static Api, LoadError> {
        static API: OnceLock<Result<Api, LoadError>> = OnceLock::new();
        API.get_or_init(Api::open).as_ref().map_err(Clone::clone)
    }

    /// Declares the forwarded functions once: the table of pointers, how it is
    /// filled from the library, and the exported symbol for each.
    macro_rules! forward {
        ($( fn $name:ident( $($arg:ident : $ty:ty),* $(,)? ); )*) => {
            struct Api {
                $( $name: unsafe extern "C" fn($($ty),*) -> LONG, )*
                SCardTransmit: TransmitFn,
                t0_pci: PciPtr,
                t1_pci: PciPtr,
                raw_pci: PciPtr,
            }

            impl Api {
                fn open() -> Result<Api, LoadError> {
                    let library = open_library()?;
                    // SAFETY: each type is the C prototype pcsc-lite declares for
                    // that name (winscard.h), the one pcsc-sys declares too.
                    let api = unsafe {
                        Api {
                            $( $name: *library.get(stringify!($name)).map_err(missing)?, )*
                            SCardTransmit: *library.get("SCardTransmit").map_err(missing)?,
                            t0_pci: pci(&library, "g_rgSCardT0Pci")?,
                            t1_pci: pci(&library, "g_rgSCardT1Pci")?,
                            raw_pci: pci(&library, "g_rgSCardRawPci")?,
                        }
                    };
                    // The function pointers must stay valid for the whole process.
                    std::mem::forget(library);
                    Ok(api)
                }
            }

            $(
                #[no_mangle]
                pub unsafe extern "C" fn $name($($arg: $ty),*) -> LONG {
                    match api() {
                        Ok(api) => (api.$name)($($arg),*),
                        Err(_) => SCARD_E_NO_SERVICE,
                    }
                }
            )*
        };
    }

    forward! {
        fn SCardEstablishContext(scope: DWORD, reserved1: *const c_void, reserved2: *const c_void, context: *mut SCARDCONTEXT);
        fn SCardReleaseContext(context: SCARDCONTEXT);
        fn SCardIsValidContext(context: SCARDCONTEXT);
        fn SCardCancel(context: SCARDCONTEXT);
        fn SCardConnect(context: SCARDCONTEXT, reader: *const c_char, share_mode: DWORD, preferred_protocols: DWORD, card: *mut SCARDHANDLE, active_protocol: *mut DWORD);
        fn SCardReconnect(card: SCARDHANDLE, share_mode: DWORD, preferred_protocols: DWORD, initialization: DWORD, active_protocol: *mut DWORD);
        fn SCardDisconnect(card: SCARDHANDLE, disposition: DWORD);
        fn SCardGetStatusChange(context: SCARDCONTEXT, timeout: DWORD, reader_states: *mut SCARD_READERSTATE, readers: DWORD);
        fn SCardListReaders(context: SCARDCONTEXT, groups: *const c_char, readers: *mut c_char, readers_len: *mut DWORD);
        fn SCardBeginTransaction(card: SCARDHANDLE);
        fn SCardEndTransaction(card: SCARDHANDLE, disposition: DWORD);
        fn SCardStatus(card: SCARDHANDLE, reader_name: *mut c_char, reader_len: *mut DWORD, state: *mut DWORD, protocol: *mut DWORD, atr: *mut u8, atr_len: *mut DWORD);
        fn SCardGetAttrib(card: SCARDHANDLE, attr_id: DWORD, attr: *mut u8, attr_len: *mut DWORD);
        fn SCardSetAttrib(card: SCARDHANDLE, attr_id: DWORD, attr: *const u8, attr_len: DWORD);
        fn SCardControl(card: SCARDHANDLE, control_code: DWORD, send: *const u8, send_len: DWORD, recv: *mut u8, recv_len: DWORD, returned: *mut DWORD);
    }

    type TransmitFn = unsafe extern "C" fn(
        SCARDHANDLE,
        *const SCARD_IO_REQUEST,
        *const u8,
        DWORD,
        *mut SCARD_IO_REQUEST,
        *mut u8,
        *mut DWORD,
    ) -> LONG;

    // SCardTransmit is written out: its send PCI may point at one of our three
    // structures, which the library does not know.
    #[no_mangle]
    pub unsafe extern "C" fn SCardTransmit(
        card: SCARDHANDLE,
        send_pci: *const SCARD_IO_REQUEST,
        send: *const u8,
        send_len: DWORD,
        recv_pci: *mut SCARD_IO_REQUEST,
        recv: *mut u8,
        recv_len: *mut DWORD,
    ) -> LONG {
        let Ok(api) = api() else {
            return SCARD_E_NO_SERVICE;
        };
        let send_pci = if std::ptr::eq(send_pci, &g_rgSCardT0Pci) {
            api.t0_pci.0
        } else if std::ptr::eq(send_pci, &g_rgSCardT1Pci) {
            api.t1_pci.0
        } else if std::ptr::eq(send_pci, &g_rgSCardRawPci) {
            api.raw_pci.0
        } else {
            send_pci
        };
        (api.SCardTransmit)(card, send_pci, send, send_len, recv_pci, recv, recv_len)
    }

    /// The same values as pcsc-lite's own (`{protocol, sizeof(SCARD_IO_REQUEST)}`).
    const fn pci_for(protocol: DWORD) -> SCARD_IO_REQUEST {
        SCARD_IO_REQUEST {
            dwProtocol: protocol,
            cbPciLength: std::mem::size_of::<SCARD_IO_REQUEST>() as DWORD,
        }
    }

    #[no_mangle]
    pub static g_rgSCardT0Pci: SCARD_IO_REQUEST = pci_for(SCARD_PROTOCOL_T0);
    #[no_mangle]
    pub static g_rgSCardT1Pci: SCARD_IO_REQUEST = pci_for(SCARD_PROTOCOL_T1);
    #[no_mangle]
    pub static g_rgSCardRawPci: SCARD_IO_REQUEST = pci_for(SCARD_PROTOCOL_RAW);

    /// A pointer to one of the library's control structures, which live (read
    /// only) as long as the library, that is for the whole process.
    #[derive(Clone, Copy)]
    struct PciPtr(*const SCARD_IO_REQUEST);
    // SAFETY: the pointee is immutable data of a library that is never unloaded.
    unsafe impl Send for PciPtr {}
    unsafe impl Sync for PciPtr {}

    fn open_library() -> Result<libloading::Library, LoadError> {
        let mut first_error = None;
        for name in LIBRARY_NAMES {
            // SAFETY: pcsc-lite's initialisers only set up its own state.
            match unsafe { libloading::Library::new(name) } {
                Ok(library) => return Ok(library),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(missing(first_error.expect("at least one name")))
    }

    unsafe fn pci(library: &libloading::Library, name: &str) -> Result<PciPtr, LoadError> {
        let symbol = library
            .get::<*const SCARD_IO_REQUEST>(name)
            .map_err(missing)?;
        Ok(PciPtr(*symbol))
    }

    fn missing(e: libloading::Error) -> LoadError {
        // libloading's own text is only "dlopen failed"; the loader's
        // reason (no such file, wrong ELF class...) is its source.
        let detail = match std::error::Error::source(&e) {
            Some(reason) => reason.to_string(),
            None => e.to_string(),
        };
        LoadError { detail }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn our_control_structures_match_pcsc_lite() {
            // pcsc-lite: const SCARD_IO_REQUEST g_rgSCardT1Pci = { SCARD_PROTOCOL_T1, sizeof(SCARD_IO_REQUEST) };
            assert_eq!(g_rgSCardT1Pci.dwProtocol, 2);
            assert_eq!(g_rgSCardT0Pci.dwProtocol, 1);
            assert_eq!(g_rgSCardRawPci.dwProtocol, 4);
            assert_eq!(
                g_rgSCardT1Pci.cbPciLength as usize,
                2 * std::mem::size_of::<DWORD>()
            );
        }

        #[test]
        fn a_missing_library_names_the_package_to_install() {
            let e = missing_error_for_test();
            let text = e.to_string();
            assert!(text.contains("libpcsclite.so.1"), "{text}");
            assert!(
                text.contains("apt-get install libpcsclite1 pcscd"),
                "{text}"
            );
        }

        fn missing_error_for_test() -> LoadError {
            // SAFETY: the file does not exist, so nothing is loaded.
            let e = unsafe { libloading::Library::new("/nonexistent/libpcsclite.so.1") }
                .expect_err("no such file");
            missing(e)
        }
    }
}
