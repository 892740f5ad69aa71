//! TLS for outgoing HTTPS (JWKS now, FCM later): rustls with the `ring` provider, which
//! builds without a C toolchain beyond `cc`.

/// Installs `ring` as the process-wide rustls provider. Safe to call many times: only the
/// first call in a process installs it, later ones find it in place.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
