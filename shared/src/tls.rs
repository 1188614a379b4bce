//! TLS trust, set up once per process without reading a certificate store from disk.
//!
//! Left to themselves, reqwest (Scalekit) and the AWS SDK's HTTPS client each load and parse the
//! system's certificate store on the cold start's main thread: most of a function's init time.
//! Here instead:
//!
//! - Scalekit (an environment domain, or a team's custom domain with any public certificate) is
//!   trusted through the web PKI's roots compiled in (webpki-roots, Mozilla's list, ready-made
//!   trust anchors: nothing to read or parse);
//! - AWS (DynamoDB, Secrets Manager) through Amazon's own roots (Amazon Root CA 1 to 4 and
//!   Starfield Services Root CA G2, which chain every AWS endpoint's certificate), compiled in;
//!   when `AWS_ENDPOINT_URL` points the SDK at something else (a local stand-in, a proxy), through
//!   the system's store as before.

use std::sync::Arc;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
use aws_smithy_http_client::Builder;

/// Amazon's root certificates (PEM), which every AWS endpoint's certificate chains to.
const AMAZON_ROOTS: &str = include_str!("../certs/amazon-roots.pem");

/// The TLS configuration of the Scalekit client: the web PKI's roots, TLS 1.2 and 1.3, aws-lc.
pub fn scalekit_client_config() -> rustls::ClientConfig {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
        // aws-lc supports every safe default version: this cannot fail.
        .unwrap_or_else(|_| unreachable_config())
}

#[cold]
fn unreachable_config() -> rustls::ClientConfig {
    unreachable!("aws-lc-rs provides the safe default protocol versions")
}

/// The AWS SDK's HTTPS client: Amazon's roots, or the system's store with `AWS_ENDPOINT_URL`.
pub fn aws_http_client() -> SharedHttpClient {
    let custom_endpoint = std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let trust = if custom_endpoint {
        TrustStore::default()
    } else {
        TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS.as_bytes())
    };
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap_or_default(),
        )
        .build_https()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::pem::PemObject;

    #[test]
    fn the_compiled_in_amazon_roots_are_the_five_aws_chains_to() {
        let certs: Vec<_> =
            rustls::pki_types::CertificateDer::pem_slice_iter(AMAZON_ROOTS.as_bytes())
                .collect::<Result<_, _>>()
                .expect("valid PEM");
        assert_eq!(certs.len(), 5);
        let mut store = rustls::RootCertStore::empty();
        let (valid, invalid) = store.add_parsable_certificates(certs);
        assert_eq!((valid, invalid), (5, 0));
    }
}
