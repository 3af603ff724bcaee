//! Built-in TLS and mutual TLS (feature `tls`, the original server's name for it):
//! reading `security.transport.tls` into a rustls server configuration, with errors that
//! name the key and the file. The connections themselves are served by
//! `listener/tls_front.rs`.
//!
//! Without the feature, `security.transport.tls.enabled = true` is refused with an error
//! that says how to build with TLS.

#[cfg(feature = "tls")]
mod load;

#[cfg(not(feature = "tls"))]
use signal_fish_core::config::ConfigError;
use signal_fish_core::config::ConfigErrors;
use signal_fish_core::Config;

/// A loaded TLS server configuration.
#[cfg(feature = "tls")]
pub(crate) type Acceptor = futures_rustls::TlsAcceptor;

/// A loaded TLS server configuration (none can exist in a build without TLS).
#[cfg(not(feature = "tls"))]
#[derive(Clone)]
pub(crate) enum Acceptor {}

/// What this build makes of `security.transport.tls`: `None` when TLS is off, the
/// loaded configuration when it is on. Every problem names its key (and its file).
pub(crate) fn acceptor(config: &Config) -> Result<Option<Acceptor>, ConfigErrors> {
    let tls = &config.security.transport.tls;
    if !tls.enabled {
        return Ok(None);
    }
    #[cfg(feature = "tls")]
    {
        load::acceptor(tls).map(Some)
    }
    #[cfg(not(feature = "tls"))]
    {
        Err(ConfigErrors(vec![ConfigError {
            key: "security.transport.tls.enabled".to_owned(),
            value: "true".to_owned(),
            expected: "false in this build, which has no TLS: build the server with the `tls` feature \
                       (`cargo build --release --features tls`), or terminate TLS at a reverse proxy"
                .to_owned(),
        }]))
    }
}
