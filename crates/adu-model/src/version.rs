//! API versions and kinds of operation: what the generated `ApiVersion` table says, read.

use std::fmt;
use std::str::FromStr;

use http::Uri;

pub use crate::api_version::ApiVersion;
use crate::error::{bounded, shown_url, Error};

/// The reads of one kind of operation in one version, as path templates; made by codegen.
pub(crate) struct Reads {
    /// One operation: `.../operations/{operationId}`.
    pub get: &'static str,
    /// A page of them: `.../operations`.
    pub list: &'static str,
    /// The list's filter query parameter (`filter`, or `$filter` in the legacy API).
    pub filter: &'static str,
    /// The list's limit query parameter (`top`, or `$top` in the legacy API).
    pub top: &'static str,
}

/// A version's reads; made by codegen.
pub(crate) struct Paths {
    /// Update operations (imports and deletions), in every version.
    pub update: Reads,
    /// Device-management operations (device imports), where the version has them.
    pub device: Option<Reads>,
}

/// Which kind of operation to read: update operations (imports and deletions of updates,
/// the default) or device-management operations (device imports).
///
/// ```
/// use adu_model::OperationKind;
///
/// assert_eq!("device".parse::<OperationKind>().unwrap(), OperationKind::Device);
/// assert_eq!(OperationKind::default().to_string(), "update");
/// assert!("devices".parse::<OperationKind>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum OperationKind {
    /// An update import or deletion (`.../updates/operations/...`).
    #[default]
    Update,
    /// A device-management operation, a device import (`.../management/operations/...`);
    /// not in the legacy API.
    Device,
}

impl OperationKind {
    /// `"update"` or `"device"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            OperationKind::Update => "update",
            OperationKind::Device => "device",
        }
    }

    /// The version's reads of this kind, or [`Error::UnsupportedKind`].
    pub(crate) fn reads(self, version: ApiVersion) -> Result<&'static Reads, Error> {
        let paths = version.paths();
        match self {
            OperationKind::Update => Ok(&paths.update),
            OperationKind::Device => paths.device.as_ref().ok_or(Error::UnsupportedKind {
                kind: self,
                version,
            }),
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a kind of operation that is neither `update` nor `device`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation kind `{0}`: use `update` or `device`")]
pub struct UnknownOperationKind(pub String);

impl FromStr for OperationKind {
    type Err = UnknownOperationKind;
    fn from_str(s: &str) -> Result<Self, UnknownOperationKind> {
        [OperationKind::Update, OperationKind::Device]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownOperationKind(bounded(s)))
    }
}

impl ApiVersion {
    /// Whether the version has operations of `kind` (the legacy API has no
    /// device-management operations).
    ///
    /// ```
    /// use adu_model::{ApiVersion, OperationKind};
    /// assert!(ApiVersion::V2026_06_01.supports(OperationKind::Device));
    /// assert!(!ApiVersion::V2.supports(OperationKind::Device));
    /// ```
    pub fn supports(&self, kind: OperationKind) -> bool {
        kind.reads(*self).is_ok()
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an API version this crate does not speak; it names those it does.
///
/// ```
/// let e = "2021-01-01".parse::<adu_model::ApiVersion>().unwrap_err();
/// assert_eq!(e.to_string(), "unknown API version `2021-01-01`: use 2026-06-01, 2022-10-01, v2 (or 2020-09-01)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown API version `{0}`: use {accepted}", accepted = accepted_versions())]
pub struct UnknownApiVersion(pub String);

/// The accepted spellings, newest first: each wire name, and an upstream name where it
/// differs in parentheses.
pub(crate) fn accepted_versions() -> String {
    let names = ApiVersion::ALL.iter().map(|v| match v.upstream_name() {
        upstream if upstream == v.as_str() => upstream.to_owned(),
        upstream => format!("{} (or {upstream})", v.as_str()),
    });
    names.collect::<Vec<_>>().join(", ")
}

impl FromStr for ApiVersion {
    type Err = UnknownApiVersion;
    /// Accepts a version's wire name (`2026-06-01`, `v2`) or its upstream name
    /// (`2020-09-01` for `v2`), in any case.
    fn from_str(s: &str) -> Result<Self, UnknownApiVersion> {
        let known = |v: &&ApiVersion| {
            s.eq_ignore_ascii_case(v.as_str()) || s.eq_ignore_ascii_case(v.upstream_name())
        };
        ApiVersion::ALL
            .iter()
            .find(known)
            .copied()
            .ok_or_else(|| UnknownApiVersion(bounded(s)))
    }
}

/// Whether `path` fits `template`, segment by segment: a `{name}` segment takes any
/// non-empty segment, the others are compared ignoring ASCII case (the service has been
/// seen to spell `deviceUpdate` as `deviceupdate` in its own locations).
pub(crate) fn fits(template: &str, path: &str) -> bool {
    let (mut t, mut p) = (template.split('/'), path.split('/'));
    loop {
        match (t.next(), p.next()) {
            (None, None) => return true,
            (Some(t), Some(p)) if t.starts_with('{') && !p.is_empty() => {}
            (Some(t), Some(p)) if t.eq_ignore_ascii_case(p) => {}
            _ => return false,
        }
    }
}

/// The value of the `api-version` parameter (its name in any case) in a URI's query,
/// percent-decoded.
pub(crate) fn api_version_in(uri: &Uri) -> Option<String> {
    let query = uri.query()?;
    let value = query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        // The service reads the name in any case, so a link that spells it otherwise names it.
        name.eq_ignore_ascii_case("api-version").then_some(value)
    })?;
    Some(
        percent_encoding::percent_decode_str(value)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The version a URI's `api-version` names, if it names one: [`Error::UnknownApiVersion`]
/// when it names one this crate does not speak (or a legacy one, which has no such query).
pub(crate) fn named_version(uri: &Uri, input: &str) -> Result<Option<ApiVersion>, Error> {
    let Some(name) = api_version_in(uri) else {
        return Ok(None);
    };
    // Recorded service traffic: the import call's 202 named its operation
    // `/deviceupdate/{instance}/updates/operations/{id}?api-version=2`, a current-API path
    // whose answer has the current API's shape. That one value is read as 2022-10-01 (the
    // version those recordings spoke; 2026-06-01 has the same operation shapes); any other
    // unknown value is an error.
    if name == "2" {
        return Ok(Some(ApiVersion::V2022_10_01));
    }
    let version = ApiVersion::ALL
        .iter()
        .find(|v| v.has_api_version_query() && v.as_str() == name);
    match version {
        Some(version) => Ok(Some(*version)),
        None => Err(Error::UnknownApiVersion {
            input: shown_url(input),
            version: bounded(&name),
        }),
    }
}

/// Which API version and kind of operation an `Operation-Location` (or any URI or path of
/// one operation) belongs to, so its answer is decoded as what it is.
///
/// A legacy path (`/deviceupdate/{instance}/v2/updates/operations/{id}`) is the legacy
/// version, whatever its query says; any other path's `api-version` query names the
/// version (`api-version=2`, which the service has been recorded sending in an import's
/// `Operation-Location`, is read as 2022-10-01). A version this crate does not speak is
/// [`Error::UnknownApiVersion`], and a path
/// with no `api-version`, or that is not one operation's path in the version it names, is
/// [`Error::InvalidOperationLocation`]: never silently read as another version. The kind
/// comes from the path (`updates/operations` or `management/operations`).
///
/// ```
/// use adu_model::{location_info, ApiVersion, Error, OperationKind};
///
/// let (version, kind) = location_info("/deviceUpdate/blue/management/operations/e852?api-version=2026-06-01").unwrap();
/// assert_eq!((version, kind), (ApiVersion::V2026_06_01, OperationKind::Device));
///
/// let legacy = location_info("https://contoso.api.adu.microsoft.com/deviceupdate/blue/v2/updates/operations/e852").unwrap();
/// assert_eq!(legacy, (ApiVersion::V2, OperationKind::Update));
///
/// let unknown = location_info("/deviceUpdate/blue/updates/operations/e852?api-version=2099-01-01");
/// assert!(matches!(unknown, Err(Error::UnknownApiVersion { .. })));
/// ```
pub fn location_info(location: &str) -> Result<(ApiVersion, OperationKind), Error> {
    let fail = |reason| Error::InvalidOperationLocation {
        input: shown_url(location),
        reason,
    };
    // Read as `resolve_operation_location` reads it, on any origin.
    let trimmed = location.trim_matches([' ', '\t']);
    let uri: Uri = crate::request::absolute_form(trimmed, "https", "https://h")
        .parse()
        .map_err(|_| fail("it is not a valid URI or path"))?;
    let path = uri.path();
    let kinds = [OperationKind::Update, OperationKind::Device];
    let fitting = |version: ApiVersion| {
        let get = |kind: OperationKind| kind.reads(version).ok().map(|r| r.get);
        kinds
            .into_iter()
            .find(|kind| get(*kind).is_some_and(|t| fits(t, path)))
    };
    let legacy = ApiVersion::ALL
        .iter()
        .filter(|v| !v.has_api_version_query());
    if let Some(found) = legacy
        .filter_map(|v| fitting(*v).map(|kind| (*v, kind)))
        .next()
    {
        return Ok(found);
    }
    let version = named_version(&uri, location)?.ok_or(fail(
        "it names no api-version, and it is not a legacy (`/v2/`) path",
    ))?;
    match fitting(version) {
        Some(kind) => Ok((version, kind)),
        None => Err(fail(
            "its path is not one operation's in the API version it names",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_their_wire_and_upstream_names() {
        for (text, want) in [
            ("2026-06-01", ApiVersion::V2026_06_01),
            ("2022-10-01", ApiVersion::V2022_10_01),
            ("v2", ApiVersion::V2),
            ("V2", ApiVersion::V2),
            ("2020-09-01", ApiVersion::V2),
        ] {
            assert_eq!(text.parse::<ApiVersion>().unwrap(), want, "{text}");
        }
        for version in ApiVersion::ALL {
            assert_eq!(version.as_str().parse::<ApiVersion>().unwrap(), *version);
            assert_eq!(version.to_string(), version.as_str());
        }
        assert_eq!(ApiVersion::default(), ApiVersion::V2026_06_01);
        assert_eq!(ApiVersion::ALL.len(), 3);
        let e = "2021-01-01".parse::<ApiVersion>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown API version `2021-01-01`: use 2026-06-01, 2022-10-01, v2 (or 2020-09-01)"
        );
    }

    #[test]
    fn kinds_parse_and_only_the_legacy_api_lacks_device_operations() {
        assert_eq!("update".parse::<OperationKind>(), Ok(OperationKind::Update));
        assert_eq!("device".parse::<OperationKind>(), Ok(OperationKind::Device));
        let e = "Device".parse::<OperationKind>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown operation kind `Device`: use `update` or `device`"
        );
        for version in ApiVersion::ALL {
            assert!(version.supports(OperationKind::Update));
            assert_eq!(
                version.supports(OperationKind::Device),
                version.has_api_version_query()
            );
        }
        let e = OperationKind::Device.reads(ApiVersion::V2).err().unwrap();
        assert_eq!(
            e.to_string(),
            "API version `v2` has no device operations; use one that has them, such as `2026-06-01`"
        );
        assert!(e.is_input_error());
    }

    #[test]
    fn templates_fit_segment_by_segment() {
        let t = "/deviceUpdate/{instanceId}/updates/operations/{operationId}";
        assert!(fits(t, "/deviceupdate/blue/updates/operations/x"));
        assert!(!fits(t, "/deviceUpdate//updates/operations/x"));
        assert!(!fits(t, "/deviceUpdate/blue/updates/operations"));
        assert!(!fits(t, "/deviceUpdate/blue/updates/operations/x/"));
    }
}
