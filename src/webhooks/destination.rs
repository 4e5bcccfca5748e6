//! Where webhooks may go: `http`/`https` URLs only, and, when the
//! deployment says so (`webhooks.allow_private_destinations = false`, for a
//! hosted service), never to a private, loopback, link-local or otherwise
//! internal address, whether the URL names it, a name resolves to it or a
//! redirect leads there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use reqwest::Url;

/// The longest URL an endpoint may have.
pub const MAX_URL_LENGTH: usize = 2000;

/// Why a URL is refused, in words for the admin who gave it.
pub fn check_url(text: &str, allow_private: bool) -> Result<Url, String> {
    if text.len() > MAX_URL_LENGTH {
        return Err(format!("must be at most {MAX_URL_LENGTH} characters"));
    }
    let url = Url::parse(text).map_err(|error| format!("is not a URL ({error})"))?;
    if url.as_str().len() > MAX_URL_LENGTH {
        return Err(format!("must be at most {MAX_URL_LENGTH} characters"));
    }
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be an http:// or https:// URL".to_owned());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".to_owned());
    }
    if url.fragment().is_some() {
        return Err("must not have a #fragment (it is never sent)".to_owned());
    }
    if !allow_private && names_internal_host(&url) {
        return Err(
            "points to a private, loopback or link-local address, which this deployment refuses \
             (webhooks.allow_private_destinations)"
                .to_owned(),
        );
    }
    Ok(url)
}

/// Whether the URL's host is an internal address written out (or
/// `localhost`). Names are checked when they are resolved.
pub fn names_internal_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => is_internal(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => is_internal(IpAddr::V6(ip)),
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        None => false,
    }
}

/// Addresses a hosted service must not reach on a customer's behalf.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => {
            // IPv4-mapped and IPv4-compatible (::a.b.c.d) forms.
            if let Some(v4) = ip.to_ipv4() {
                return is_internal_v4(v4);
            }
            let segments = ip.segments();
            let embedded = |high: u16, low: u16| {
                let [a, b] = high.to_be_bytes();
                let [c, d] = low.to_be_bytes();
                Ipv4Addr::new(a, b, c, d)
            };
            // NAT64 (64:ff9b::/96, and the local 64:ff9b:1::/48) carries an
            // IPv4 address in its last 32 bits; 6to4 (2002::/16) in bits 16-48.
            if segments[..2] == [0x64, 0xff9b] && (segments[2..6] == [0; 4] || segments[2] == 1) {
                return is_internal_v4(embedded(segments[6], segments[7]));
            }
            if segments[0] == 0x2002 {
                return is_internal_v4(embedded(segments[1], segments[2]));
            }
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || (segments[0] & 0xfe00) == 0xfc00 // unique local, fc00::/7
                || (segments[0] & 0xffc0) == 0xfe80 // link-local, fe80::/10
                || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
                || ip == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1)
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_urls_with_a_host() {
        assert!(check_url("https://helpdesk.example.com/hooks/countersign", true).is_ok());
        assert!(check_url("http://10.0.0.5:8080/in", true).is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "https://",
            "mailto:a@b.c",
            "https://a.b/#x",
        ] {
            assert!(check_url(bad, true).is_err(), "{bad} was accepted");
        }
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(2000)), true).is_err());
    }

    #[test]
    fn internal_addresses_are_refused_only_when_the_deployment_says_so() {
        for internal in [
            "http://127.0.0.1/",
            "http://localhost:8080/",
            "http://api.localhost/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[64:ff9b:1::a00:1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "HTTP://LOCALHOST./",
        ] {
            assert!(check_url(internal, true).is_ok(), "{internal} refused though allowed");
            assert!(
                check_url(internal, false).is_err(),
                "{internal} accepted though refused"
            );
        }
        for public in [
            "https://93.184.215.14/",
            "https://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]/",
            "https://example.com/",
        ] {
            assert!(check_url(public, false).is_ok(), "{public} refused");
        }
    }
}
