//! Where tokens come from: the authority host, the tenant and the endpoint
//! version; and the scopes of the Device Update API.

use std::net::IpAddr;

use url::Url;

use crate::error::Error;

/// The public cloud's authority host.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// Scopes of the Device Update API, per API version.
pub mod scopes {
    /// The current API versions (2022-10-01, 2026-06-01), every flow.
    pub const CURRENT: &str = "https://api.adu.microsoft.com/.default";
    /// The legacy API (2020-09-01), user flows (authorization code, implicit, password).
    pub const LEGACY_USER_IMPERSONATION: &str = "https://api.adu.microsoft.com/user_impersonation";
    /// The legacy API (2020-09-01), the application flow (client credentials).
    pub const LEGACY_DEFAULT: &str = "https://api.adu.microsoft.com/.default";
    /// The resource these scopes belong to (what v1 endpoints take as `resource`).
    pub const RESOURCE: &str = "https://api.adu.microsoft.com";
}

/// Which generation of the identity platform's endpoints to use.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EndpointVersion {
    /// `/{tenant}/oauth2/v2.0/{authorize,token}`, taking `scope` (the default).
    #[default]
    V2,
    /// `/{tenant}/oauth2/{authorize,token}`, taking `resource` instead of `scope`.
    V1,
}

/// An authority: host, tenant and endpoint version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    host: Url,
    tenant: String,
    version: EndpointVersion,
}

impl Authority {
    /// The public cloud's authority for `tenant` (`common`, `organizations`,
    /// `consumers`, a tenant id or a verified domain), v2.0 endpoints.
    pub fn new(tenant: impl Into<String>) -> Result<Self, Error> {
        let tenant = tenant.into();
        check_tenant(&tenant)?;
        Ok(Authority {
            host: Url::parse(DEFAULT_AUTHORITY_HOST).expect("the default host is a valid URL"),
            tenant,
            version: EndpointVersion::V2,
        })
    }

    /// Another authority host (sovereign clouds, tests). It must be `https`,
    /// except that plain `http` is accepted for loopback hosts
    /// (`localhost`, `127.0.0.0/8`, `::1`). A path prefix is kept.
    pub fn with_host(mut self, host: &str) -> Result<Self, Error> {
        let invalid = |why: &str| Error::InvalidConfig {
            message: format!("authority host `{}` {why}", without_userinfo(host)),
        };
        let mut url = Url::parse(host).map_err(|_| invalid("is not a URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if is_loopback(&url) => {}
            "http" => {
                return Err(invalid(
                    "must use https (plain http only for loopback hosts)",
                ))
            }
            _ => return Err(invalid("must be an https URL")),
        }
        if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("must be scheme://host[:port][/path] only"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid("must not carry user information"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        self.host = url;
        Ok(self)
    }

    /// Chooses the endpoint version.
    #[must_use]
    pub fn with_version(mut self, version: EndpointVersion) -> Self {
        self.version = version;
        self
    }

    /// The host (with a trailing slash).
    pub fn host(&self) -> &Url {
        &self.host
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The endpoint version.
    pub fn version(&self) -> EndpointVersion {
        self.version
    }

    /// The token endpoint.
    pub fn token_url(&self) -> Url {
        self.endpoint("token")
    }

    /// The authorize endpoint.
    pub fn authorize_url(&self) -> Url {
        self.endpoint("authorize")
    }

    fn endpoint(&self, name: &str) -> Url {
        let relative = match self.version {
            EndpointVersion::V2 => format!("{}/oauth2/v2.0/{name}", self.tenant),
            EndpointVersion::V1 => format!("{}/oauth2/{name}", self.tenant),
        };
        // The tenant was checked to be a plain path segment, so this cannot fail.
        self.host
            .join(&relative)
            .expect("tenant is a valid path segment")
    }

    /// Whether the identity platform accepts the password grant here: not on
    /// `common` nor `consumers` (nor the consumer tenant's id).
    #[must_use]
    pub fn allows_password_grant(&self) -> bool {
        const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
        let t = self.tenant.to_ascii_lowercase();
        !(t == "common" || t == "consumers" || t == CONSUMERS_TENANT_ID)
    }

    /// The parameter naming what a token is for: v2 takes the scopes
    /// (`scope`, none when there are no scopes); v1 takes the one `resource`
    /// they belong to.
    pub(crate) fn scope_param(
        &self,
        scopes: &[String],
    ) -> Result<Option<(&'static str, String)>, Error> {
        match self.version {
            EndpointVersion::V2 if scopes.is_empty() => Ok(None),
            EndpointVersion::V2 => Ok(Some(("scope", scopes.join(" ")))),
            EndpointVersion::V1 => Ok(Some(("resource", resource_for(scopes)?))),
        }
    }
}

/// The resource of URL-shaped scopes: `https://api.example/.default` and
/// `https://api.example/user_impersonation` both belong to
/// `https://api.example`. Scopes that are not URLs (`openid`,
/// `offline_access`) are ignored; the rest must agree.
pub(crate) fn resource_for(scopes: &[String]) -> Result<String, Error> {
    let mut resource: Option<&str> = None;
    for scope in scopes {
        if !scope.contains("://") {
            continue;
        }
        let this = match scope.rfind('/') {
            Some(i) if i > scope.find("://").unwrap_or(0) + 2 => &scope[..i],
            _ => scope.as_str(),
        };
        match resource {
            None => resource = Some(this),
            Some(r) if r == this => {}
            Some(r) => {
                return Err(Error::InvalidConfig {
                    message: format!(
                        "v1 endpoints take one resource, but the scopes name `{r}` and `{this}`"
                    ),
                })
            }
        }
    }
    resource
        .map(str::to_owned)
        .ok_or_else(|| Error::InvalidConfig {
            message: "v1 endpoints need a resource, but no scope is a URL".to_owned(),
        })
}

fn check_tenant(tenant: &str) -> Result<(), Error> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant != "."
        && tenant != ".."
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if ok {
        Ok(())
    } else {
        // Shown escaped and cut short: the text may be anything typed or read from a file.
        const SHOWN: usize = 100;
        let shown: String = tenant.escape_debug().take(SHOWN).collect();
        let cut = if tenant.escape_debug().count() > SHOWN {
            "…"
        } else {
            ""
        };
        Err(Error::InvalidConfig {
            message: format!("tenant `{shown}{cut}` is not a tenant id, domain, `common`, `organizations` or `consumers`"),
        })
    }
}

/// `host` as it may be shown in a message: any user information (RFC 3986
/// §3.2.1, `user:password@`) replaced with `***@`. This works on the text,
/// not on a parsed URL, because the input may not parse: everything between
/// the scheme's `:` (and its slashes) and the last `@` is hidden, which hides
/// more than the user information when a path holds an `@`, never less.
fn without_userinfo(host: &str) -> String {
    let scheme_end = host
        .find(':')
        .filter(|&i| {
            i > 0
                && host[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        })
        .map_or(0, |i| i + 1);
    let start = scheme_end
        + host[scheme_end..]
            .bytes()
            .take_while(|b| matches!(b, b'/' | b'\\'))
            .count();
    match host[start..].rfind('@') {
        Some(at) => format!("{}***@{}", &host[..start], &host[start + at + 1..]),
        None => host.to_owned(),
    }
}

pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_and_v1_endpoints() {
        let a = Authority::new("contoso.onmicrosoft.com").unwrap();
        assert_eq!(
            a.token_url().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            a.authorize_url().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
        );
        let v1 = a.with_version(EndpointVersion::V1);
        assert_eq!(
            v1.token_url().as_str(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/token"
        );
    }

    #[test]
    fn sovereign_and_loopback_hosts() {
        let a = Authority::new("common")
            .unwrap()
            .with_host("https://login.chinacloudapi.cn")
            .unwrap();
        assert_eq!(
            a.token_url().as_str(),
            "https://login.chinacloudapi.cn/common/oauth2/v2.0/token"
        );
        let prefixed = Authority::new("t")
            .unwrap()
            .with_host("https://proxy.example/aad")
            .unwrap();
        assert_eq!(
            prefixed.token_url().as_str(),
            "https://proxy.example/aad/t/oauth2/v2.0/token"
        );
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
            "http://127.3.4.5",
        ] {
            assert!(Authority::new("t").unwrap().with_host(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://10.0.0.1",
            "ftp://x",
            "not a url",
            "https://u:p@h",
            "https://h/?q=1",
        ] {
            let err = Authority::new("t").unwrap().with_host(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidConfig { .. }), "{bad}");
        }
    }

    #[test]
    fn a_refused_tenant_is_shown_escaped_and_short() {
        for (tenant, shown) in [
            ("bad tenant", "`bad tenant`".to_owned()),
            ("a\u{1b}[2J\n", r"`a\u{1b}[2J\n`".to_owned()),
            (&"x".repeat(300), format!("`{}…`", "x".repeat(100))),
        ] {
            let Err(Error::InvalidConfig { message }) = check_tenant(tenant) else {
                panic!("{tenant:?} was accepted");
            };
            assert!(
                message.starts_with(&format!("tenant {shown} is not")),
                "{message}"
            );
        }
    }

    #[test]
    fn host_errors_never_echo_user_information() {
        for (host, shown) in [
            ("https://user:hunter2@h", "https://***@h"),
            ("http://user:hunter2@example.com", "http://***@example.com"),
            ("ftp://user:hunter2@x", "ftp://***@x"),
            ("https://user:hunter2@h/p?q=1", "https://***@h/p?q=1"),
            ("https://user:hun/ter2@h", "https://***@h"),
            ("https:\\\\user:hunter2@h/?x", "https:\\\\***@h/?x"),
            ("user:hunter2@host", "user:***@host"),
        ] {
            let err = Authority::new("t").unwrap().with_host(host).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains(shown), "{text}");
        }
        assert_eq!(without_userinfo("https://h/path"), "https://h/path");
        assert_eq!(without_userinfo("not a url"), "not a url");
    }

    #[test]
    fn tenants() {
        for ok in [
            "common",
            "organizations",
            "consumers",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "contoso.com",
        ] {
            assert!(Authority::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "..", "a?b", "a b", "é"] {
            assert!(Authority::new(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn password_grant_tenants() {
        assert!(!Authority::new("common").unwrap().allows_password_grant());
        assert!(!Authority::new("Consumers").unwrap().allows_password_grant());
        assert!(!Authority::new("9188040d-6c67-4c5b-b112-36a304b66dad")
            .unwrap()
            .allows_password_grant());
        assert!(Authority::new("organizations")
            .unwrap()
            .allows_password_grant());
        assert!(Authority::new("72f988bf-86f1-41af-91ab-2d7cd011db47")
            .unwrap()
            .allows_password_grant());
    }

    #[test]
    fn v1_resource_from_scopes() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            resource_for(&s(&[scopes::CURRENT])).unwrap(),
            scopes::RESOURCE
        );
        assert_eq!(
            resource_for(&s(&[scopes::LEGACY_USER_IMPERSONATION, "offline_access"])).unwrap(),
            scopes::RESOURCE
        );
        assert!(resource_for(&s(&["openid"])).is_err());
        assert!(resource_for(&s(&[
            "https://a.example/.default",
            "https://b.example/.default"
        ]))
        .is_err());
        let v1 = Authority::new("t")
            .unwrap()
            .with_version(EndpointVersion::V1);
        assert_eq!(
            v1.scope_param(&s(&[scopes::CURRENT])).unwrap(),
            Some(("resource", scopes::RESOURCE.to_owned()))
        );
    }
}
