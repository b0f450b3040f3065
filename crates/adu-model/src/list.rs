//! Listing operations: the first page's request, a page's decoding, and [`Pager`], which
//! follows `nextLink` from page to page without doing any I/O itself.

use http::{Request, Uri};
use percent_encoding::utf8_percent_encode;

use crate::endpoint::{Endpoint, InstanceId};
use crate::error::{bounded, Error};
use crate::models::OperationStatus;
use crate::request::{build_get_request, SEGMENT};
use crate::version::{ApiVersion, OperationKind};

/// Which operations a list asks for.
///
/// The service supports one filter only, on status; [`OperationFilter::Statuses`] writes it,
/// and [`OperationFilter::Raw`] passes any other text through as it is.
///
/// ```
/// use adu_model::{models::OperationStatus, OperationFilter};
///
/// let filter = OperationFilter::Statuses(vec![OperationStatus::NotStarted, OperationStatus::Running]);
/// assert_eq!(filter.to_string(), "status eq 'NotStarted' or status eq 'Running'");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OperationFilter {
    /// Operations in any of these statuses (none: every operation).
    Statuses(Vec<OperationStatus>),
    /// A filter expression sent as it is.
    Raw(String),
}

impl std::fmt::Display for OperationFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OperationFilter::Raw(text) => f.write_str(text),
            OperationFilter::Statuses(statuses) => {
                for (i, status) in statuses.iter().enumerate() {
                    // OData: a quote inside a string literal is doubled.
                    let value = status.as_str().replace('\'', "''");
                    let or = if i == 0 { "" } else { " or " };
                    write!(f, "{or}status eq '{value}'")?;
                }
                Ok(())
            }
        }
    }
}

/// What a list asks the service for.
///
/// ```
/// use adu_model::{models::OperationStatus, ListOptions, OperationFilter};
///
/// let options = ListOptions::default()
///     .with_filter(OperationFilter::Statuses(vec![OperationStatus::Running]))
///     .with_top(10);
/// assert_eq!(options.top, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListOptions {
    /// Which operations (default: all).
    pub filter: Option<OperationFilter>,
    /// At most how many operations in all (default: no limit).
    pub top: Option<u32>,
}

impl ListOptions {
    /// Sets the filter.
    pub fn with_filter(mut self, filter: OperationFilter) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Sets the limit on the number of operations.
    pub fn with_top(mut self, top: u32) -> Self {
        self.top = Some(top);
        self
    }
}

/// The absolute URI of the first page of a list, as [`build_list_operations_request`]
/// sends it: the version's list path and query names (`filter` and `top`, `$filter` and
/// `$top` in the legacy API), each value percent-encoded.
///
/// ```
/// use adu_model::{list_operations_uri, models::OperationStatus, ApiVersion, Endpoint, InstanceId, ListOptions, OperationFilter, OperationKind};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let instance = InstanceId::new("blue").unwrap();
/// let options = ListOptions::default()
///     .with_filter(OperationFilter::Statuses(vec![OperationStatus::NotStarted, OperationStatus::Running]))
///     .with_top(5);
/// let uri = list_operations_uri(&endpoint, &instance, OperationKind::Update, ApiVersion::V2, &options).unwrap();
/// assert_eq!(
///     uri,
///     "https://contoso.api.adu.microsoft.com/deviceupdate/blue/v2/updates/operations?$filter=status%20eq%20%27NotStarted%27%20or%20status%20eq%20%27Running%27&$top=5"
/// );
/// ```
pub fn list_operations_uri(
    endpoint: &Endpoint,
    instance: &InstanceId,
    kind: OperationKind,
    version: ApiVersion,
    options: &ListOptions,
) -> Result<Uri, Error> {
    let reads = kind.reads(version)?;
    let instance_segment = crate::request::encode_path_segment(instance.as_str());
    let mut uri = endpoint.base_url() + &reads.list.replace("{instanceId}", &instance_segment);
    let mut query = Vec::new();
    if let Some(filter) = options.filter.as_ref().map(ToString::to_string) {
        if !filter.is_empty() {
            query.push(format!(
                "{}={}",
                reads.filter,
                utf8_percent_encode(&filter, SEGMENT)
            ));
        }
    }
    if let Some(top) = options.top {
        query.push(format!("{}={top}", reads.top));
    }
    if version.has_api_version_query() {
        query.push(format!("api-version={version}"));
    }
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    uri.parse().map_err(|_| Error::InvalidInstanceId {
        input: bounded(instance.as_str()),
        reason: "it does not form a valid URI",
    })
}

/// Builds `GET` of the first page of operations of `kind` (see [`list_operations_uri`]);
/// [`Error::UnsupportedKind`] for device-management operations of the legacy API. Follow
/// the pages with a [`Pager`].
///
/// ```
/// use adu_model::{build_list_operations_request, ApiVersion, Endpoint, Error, InstanceId, ListOptions, OperationKind};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let instance = InstanceId::new("blue").unwrap();
/// let request = build_list_operations_request(&endpoint, &instance, OperationKind::Device, ApiVersion::default(), &ListOptions::default().with_top(2)).unwrap();
/// assert_eq!(request.uri(), "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/management/operations?top=2&api-version=2026-06-01");
///
/// let legacy = build_list_operations_request(&endpoint, &instance, OperationKind::Device, ApiVersion::V2, &ListOptions::default());
/// assert!(matches!(legacy, Err(Error::UnsupportedKind { .. })));
/// ```
pub fn build_list_operations_request(
    endpoint: &Endpoint,
    instance: &InstanceId,
    kind: OperationKind,
    version: ApiVersion,
    options: &ListOptions,
) -> Result<Request<Vec<u8>>, Error> {
    build_get_request(
        list_operations_uri(endpoint, instance, kind, version, options)?,
        None,
    )
}
