//! Sends one webhook: the HTTP client (connect and total timeouts, no
//! proxy, the destination rule applied to every address it connects to and
//! every redirect), the Standard Webhooks headers, and what came back. It
//! never retries and never touches the database; the worker decides.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::redirect;

use super::destination;
use super::signature::{SigningKey, signature_header};

/// How a sender behaves, from the `webhooks` settings.
#[derive(Debug, Clone)]
pub struct SenderOptions {
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub allow_private: bool,
    /// How much of a response body is kept for the attempt log.
    pub keep_body_bytes: usize,
}

/// One message to one endpoint.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub url: &'a str,
    pub message_id: &'a str,
    pub body: &'a str,
    pub keys: &'a [SigningKey],
}

/// What an attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    /// The start of the response body, as text.
    pub body: Option<String>,
    /// Why there is no answer (or why a 3xx was not followed).
    pub error: Option<String>,
    pub duration: Duration,
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    options: SenderOptions,
}

/// The most 307/308 redirects followed. 301, 302 and 303 are not followed:
/// they would turn the POST into a GET without the body, and count as
/// failed attempts instead.
const MAX_REDIRECTS: usize = 5;

/// Makes ring the process's TLS provider (the one the database driver
/// uses too); harmless when one is installed already.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Sender {
    pub fn new(options: SenderOptions) -> anyhow::Result<Self> {
        install_tls_provider();
        let allow_private = options.allow_private;
        let policy = redirect::Policy::custom(move |attempt| {
            if !matches!(attempt.status().as_u16(), 307 | 308) {
                return attempt.stop();
            }
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let to = attempt.url().to_string();
            match destination::check_url(&to, allow_private) {
                Ok(_) => attempt.follow(),
                Err(reason) => attempt.error(format!("redirected to {to}, which {reason}")),
            }
        });
        let mut builder = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.timeout)
            .redirect(policy)
            .no_proxy()
            .pool_idle_timeout(Duration::from_secs(30));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Ok(Sender {
            client: builder.build()?,
            options,
        })
    }

    /// Posts the message, signed with every key, and reads what came back.
    pub async fn send(&self, outgoing: &Outgoing<'_>) -> Sent {
        let started = Instant::now();
        let failed = |error: String| Sent {
            status: None,
            retry_after: None,
            body: None,
            error: Some(error),
            duration: started.elapsed(),
        };
        // A URL accepted when the rule was looser, or an address written out
        // (names are checked by the resolver), is refused here.
        let url = match destination::check_url(outgoing.url, self.options.allow_private) {
            Ok(url) => url,
            Err(reason) => return failed(format!("destination refused: the URL {reason}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature_header(outgoing.keys, outgoing.message_id, timestamp, outgoing.body.as_bytes());
        let request = self
            .client
            .post(url)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(USER_AGENT, concat!("Countersign-Webhooks/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", outgoing.message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(outgoing.body.to_owned());
        let mut response = match request.send().await {
            Ok(response) => response,
            Err(error) => return failed(describe(&error)),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let error = response.status().is_redirection().then(|| {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("nowhere");
            format!("redirected ({status}) to {location}; only 307 and 308 are followed")
        });
        let mut kept = Vec::new();
        let mut read_error = None;
        while kept.len() < self.options.keep_body_bytes {
            match response.chunk().await {
                Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(error) => {
                    read_error = Some(describe(&error));
                    break;
                }
            }
        }
        kept.truncate(self.options.keep_body_bytes);
        // PostgreSQL text holds no NUL; a receiver's answer may.
        let body = String::from_utf8_lossy(&kept).replace('\0', "\u{fffd}");
        Sent {
            status: Some(status),
            retry_after,
            body: Some(body),
            error: error.or(read_error.map(|e| format!("reading the answer failed: {e}"))),
            duration: started.elapsed(),
        }
    }
}

/// The error and its causes on one line, e.g. "error sending request: …:
/// connection refused".
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() {
        "timed out".to_owned()
    } else {
        error.to_string()
    };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// A resolver that leaves out internal addresses, and fails when nothing
/// else is left, so a name cannot lead a hosted service into its own network.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found
                .into_iter()
                .filter(|addr| !destination::is_internal(addr.ip()))
                .collect();
            if public.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("destination refused: {host} resolves only to private, loopback or link-local addresses")
                        .into();
                return Err(refused);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}
