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
//!   when `AWS_ENDPOINT_URL` points the SDK at an `https://` endpoint of something else (a proxy,
//!   a stand-in with its own certificate), through the system's store as before. A plain-HTTP
//!   stand-in (moto on loopback) needs no trust at all, so it keeps Amazon's roots: local runs
//!   and the benchmarks start as a deployed function does.

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

/// Which certificates the AWS SDK's client trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsTrust {
    /// Amazon's five roots, compiled in.
    AmazonRoots,
    /// The system's certificate store, read at init.
    SystemStore,
}

impl AwsTrust {
    /// The trust for `endpoint` (`AWS_ENDPOINT_URL`): the system's store for any `https://`
    /// endpoint set there (a proxy or an emulator with its own CA; AWS's own endpoints need no
    /// AWS_ENDPOINT_URL), Amazon's roots otherwise.
    pub fn for_endpoint(endpoint: Option<&str>) -> AwsTrust {
        let https = endpoint
            .and_then(|url| url.get(..8))
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"));
        if https {
            AwsTrust::SystemStore
        } else {
            AwsTrust::AmazonRoots
        }
    }
}

/// The AWS SDK's HTTPS client, trusting what [`AwsTrust::for_endpoint`] says for
/// `AWS_ENDPOINT_URL`.
pub fn aws_http_client() -> SharedHttpClient {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
    let trust = match AwsTrust::for_endpoint(endpoint.as_deref()) {
        AwsTrust::SystemStore => TrustStore::default(),
        AwsTrust::AmazonRoots => TrustStore::empty()
            .with_native_roots(false)
            .with_pem_certificate(AMAZON_ROOTS.as_bytes()),
    };
    Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(
            TlsContext::builder()
                .with_trust_store(trust)
                .build()
                .unwrap_or_else(|error| {
                    // Still verified, but against the system store: say so.
                    tracing::error!(%error, "AWS TLS trust not built: the system store is used");
                    TlsContext::default()
                }),
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

    #[test]
    fn aws_is_trusted_through_amazons_roots_unless_an_https_endpoint_replaces_it() {
        assert_eq!(AwsTrust::for_endpoint(None), AwsTrust::AmazonRoots);
        assert_eq!(
            AwsTrust::for_endpoint(Some("http://127.0.0.1:5000")),
            AwsTrust::AmazonRoots
        );
        assert_eq!(AwsTrust::for_endpoint(Some("")), AwsTrust::AmazonRoots);
        assert_eq!(
            AwsTrust::for_endpoint(Some("https://dynamodb-proxy.internal")),
            AwsTrust::SystemStore
        );
        assert_eq!(
            AwsTrust::for_endpoint(Some("HTTPS://proxy.internal:8443")),
            AwsTrust::SystemStore
        );
    }
}
