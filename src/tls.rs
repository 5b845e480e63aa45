//! TLS for every HTTPS connection the job makes (the API and S3): rustls with the `ring`
//! provider, installed once as the process default.
//!
//! reqwest (ours and the one inside object_store) is built without a bundled provider, so the
//! `aws-lc-sys` C build stays out of the product; this module is the one place that chooses.
//! It knows nothing about what is sent over the connections.

use std::sync::Once;

/// Makes rustls' `ring` provider the process default. Idempotent; call before building any
/// HTTP client. A provider installed earlier by someone else is kept.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means a default is already installed, which serves just as well.
        let _already = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTPS client builds with the ring provider and the platform's roots: what the API
    /// client and the S3 store need, though the tests only speak plain HTTP on loopback.
    #[test]
    fn https_client_config_builds() {
        install_crypto_provider();
        let provider = rustls::crypto::CryptoProvider::get_default().expect("installed");
        assert!(!provider.cipher_suites.is_empty());
        let config = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth();
        assert!(config.crypto_provider().cipher_suites.len() >= 2);
        reqwest::Client::builder()
            .https_only(true)
            .build()
            .expect("reqwest builds a TLS client on the ring provider");
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name("bucket")
            .with_region("us-east-1")
            .build();
        assert!(store.is_ok(), "{store:?}");
    }
}
