//! Listing operations: the first page's request, a page's decoding, and [`Pager`], which
//! follows `nextLink` from page to page without doing any I/O itself.

use std::collections::HashSet;
use std::time::SystemTime;

use http::{Request, Response, StatusCode, Uri};
use percent_encoding::utf8_percent_encode;

use crate::endpoint::{Endpoint, InstanceId};
use crate::error::{bounded, shown_url, Error};
use crate::models::{self, OperationStatus};
use crate::request::{build_get_request, has_scheme, resolve_operation_location, SEGMENT};
use crate::response::{decode_error, decode_service_error, utf8, AnyOperation};
use crate::version::{named_version, ApiVersion, OperationKind};

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
/// assert_eq!(options, ListOptions::default().with_statuses([OperationStatus::Running]).with_top(10));
/// let raw = ListOptions::default().with_raw_filter("status eq 'Running'");
/// assert_eq!(raw.filter, Some(OperationFilter::Raw("status eq 'Running'".into())));
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

    /// Sets a status filter: operations in any of `statuses`.
    pub fn with_statuses(self, statuses: impl IntoIterator<Item = OperationStatus>) -> Self {
        self.with_filter(OperationFilter::Statuses(statuses.into_iter().collect()))
    }

    /// Sets a filter expression sent as it is.
    pub fn with_raw_filter(self, filter: impl Into<String>) -> Self {
        self.with_filter(OperationFilter::Raw(filter.into()))
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

/// One page of a list, as the service sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OperationPage {
    /// The operations on this page, in the service's order.
    pub items: Vec<AnyOperation>,
    /// Where the next page is (absolute, or relative to the endpoint); `None` on the last
    /// page, including when the service sent an empty link.
    pub next_link: Option<String>,
}

/// What a list's body should be, as a decode error says it.
const A_PAGE: &str = "a page of operations";

/// Decodes one page of a list of operations of `kind` in `version`.
///
/// 200 gives the page; any other status gives [`Error::Service`] with everything the
/// service said, as [`crate::decode_get_operation_response`] does; a 200 whose body is not
/// a page gives [`Error::Decode`] keeping the body (bounded).
///
/// ```
/// use std::time::SystemTime;
/// use adu_model::{decode_list_operations_response, http, ApiVersion, OperationKind};
///
/// let body = br#"{"value":[{"operationId":"a1","status":"Succeeded","createdDateTime":"2026-06-02T10:00:00Z","lastActionDateTime":"2026-06-02T10:01:00Z"}],"nextLink":"/deviceUpdate/blue/updates/operations?skipToken=2&api-version=2026-06-01"}"#;
/// let response = http::Response::builder().status(200).body(body.to_vec()).unwrap();
/// let page = decode_list_operations_response(ApiVersion::V2026_06_01, OperationKind::Update, &response, SystemTime::now()).unwrap();
/// assert_eq!(page.items[0].operation_id(), "a1");
/// assert!(page.next_link.is_some());
/// ```
pub fn decode_list_operations_response(
    version: ApiVersion,
    kind: OperationKind,
    response: &Response<Vec<u8>>,
    now: SystemTime,
) -> Result<OperationPage, Error> {
    kind.reads(version)?;
    let status = response.status();
    let body = response.body();
    if status != StatusCode::OK {
        let error = decode_service_error(status, response.headers(), body, now);
        return Err(Error::Service(Box::new(error)));
    }
    let text = utf8(status, body, A_PAGE)?;
    let fail = |e: serde_json::Error| decode_error(status, body, A_PAGE, e.to_string());
    let (items, next_link) = match (version.has_api_version_query(), kind) {
        (false, _) => {
            let page: models::PageableListOfOperations =
                serde_json::from_str(text).map_err(fail)?;
            let items = page.value.unwrap_or_default().into_iter();
            (items.map(AnyOperation::Legacy).collect(), page.next_link)
        }
        (true, OperationKind::Update) => {
            let page: models::UpdateOperationsList = serde_json::from_str(text).map_err(fail)?;
            let items = page.value.into_iter();
            (items.map(AnyOperation::Current).collect(), page.next_link)
        }
        (true, OperationKind::Device) => {
            let page: models::DeviceOperationsList = serde_json::from_str(text).map_err(fail)?;
            let items = page.value.into_iter();
            (items.map(AnyOperation::Device).collect(), page.next_link)
        }
    };
    Ok(OperationPage {
        items,
        next_link: next_link.filter(|link| !link.trim().is_empty()),
    })
}

/// Follows a list from page to page, in the manner of `quinn-proto`: no I/O, no clock.
///
/// Ask it for the [`Pager::next_request`], send that however you like, and hand the
/// answer to [`Pager::handle_response`], which returns the page's operations to show and
/// works out the next request from the page's `nextLink`, until `next_request` is `None`.
///
/// - A `nextLink` is absolute or relative; it is resolved against the endpoint as an
///   `Operation-Location` is (a relative path or a bare query against the page that sent
///   it, as RFC 3986 reads them), and one on another origin is refused
///   ([`Error::ForeignNextLink`]), so the token never goes to another host.
/// - It keeps the API version: a link without `api-version` gets the pager's, one naming
///   a version this crate does not speak is [`Error::UnknownApiVersion`], and a page is
///   decoded with the version its request named.
/// - A missing or empty `nextLink` ends the list; one the pager has requested before ends
///   it with [`Error::InvalidNextLink`], so a service that loops cannot keep it going.
/// - `top` (from [`ListOptions::top`]) limits the total the caller is given; once it is
///   reached no further request is made.
///
/// After an error about a link the list is over (the operations of the page that sent the
/// link are not given either: the error says the list cannot be trusted to be whole).
/// After a service or decode error the pager is unchanged: `next_request` gives the same
/// request again, for a caller that decides to retry.
///
/// ```
/// use std::time::SystemTime;
/// use adu_model::{http, ApiVersion, Endpoint, InstanceId, ListOptions, OperationKind, Pager};
///
/// let endpoint = Endpoint::parse("contoso.api.adu.microsoft.com").unwrap();
/// let instance = InstanceId::new("blue").unwrap();
/// let mut pager = Pager::new(&endpoint, &instance, OperationKind::Update, ApiVersion::default(), &ListOptions::default()).unwrap();
/// let op = |id: &str| format!(r#"{{"operationId":"{id}","status":"Running","createdDateTime":"2026-06-02T10:00:00Z","lastActionDateTime":"2026-06-02T10:00:00Z"}}"#);
/// let pages = [
///     format!(r#"{{"value":[{}],"nextLink":"/deviceUpdate/blue/updates/operations?skipToken=1"}}"#, op("a")),
///     format!(r#"{{"value":[{}]}}"#, op("b")),
/// ];
/// let mut seen = Vec::new();
/// for body in pages {
///     let request = pager.next_request().unwrap();
///     // ...send `request`; here, a canned answer:
///     let response = http::Response::builder().status(200).body(body.into_bytes()).unwrap();
///     for item in pager.handle_response(&response, SystemTime::now()).unwrap() {
///         seen.push(item.operation_id().to_owned());
///     }
///     if seen.len() == 1 {
///         // The relative link was resolved and kept the API version.
///         assert_eq!(pager.next_request().unwrap().uri(), "https://contoso.api.adu.microsoft.com/deviceUpdate/blue/updates/operations?skipToken=1&api-version=2026-06-01");
///     }
/// }
/// assert_eq!(seen, ["a", "b"]);
/// assert!(pager.next_request().is_none());
/// ```
#[derive(Debug, Clone)]
pub struct Pager {
    endpoint: Endpoint,
    kind: OperationKind,
    /// The version the next page is decoded with.
    version: ApiVersion,
    /// The next page to ask for; `None` once the list is over.
    next: Option<Uri>,
    /// How many more operations the caller may be given, when `top` was set.
    remaining: Option<u32>,
    /// Every page read so far, as its request named it: a link to one of them means the
    /// service loops.
    requested: HashSet<String>,
    /// Empty pages read in a row, each with a link to another.
    empty_in_a_row: u32,
}

/// How many empty pages in a row, each naming a new next page, a list may go through
/// before it ends with an error: a service that only ever says "more" would otherwise
/// be followed for ever.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 100;

impl Pager {
    /// A pager for the list of operations of `kind` that `options` describes, starting with
    /// the request [`build_list_operations_request`] makes; [`Error::UnsupportedKind`] for
    /// device-management operations of the legacy API.
    pub fn new(
        endpoint: &Endpoint,
        instance: &InstanceId,
        kind: OperationKind,
        version: ApiVersion,
        options: &ListOptions,
    ) -> Result<Pager, Error> {
        let first = list_operations_uri(endpoint, instance, kind, version, options)?;
        let next = (options.top != Some(0)).then_some(first);
        Ok(Pager {
            endpoint: endpoint.clone(),
            kind,
            version,
            next,
            remaining: options.top,
            requested: HashSet::new(),
            empty_in_a_row: 0,
        })
    }

    /// The request for the next page, or `None` when the list is over. The same request
    /// until [`Pager::handle_response`] accepts its answer.
    pub fn next_request(&self) -> Option<Request<Vec<u8>>> {
        let uri = self.next.clone()?;
        build_get_request(uri, None).ok()
    }

    /// The API version the next page is read with (the one its request names).
    pub fn version(&self) -> ApiVersion {
        self.version
    }

    /// Reads the answer to [`Pager::next_request`]: the page's operations the caller is
    /// to be given (cut at `top`), in order; the next request is then worked out from the
    /// page's `nextLink`. An answer when the list is over gives nothing.
    pub fn handle_response(
        &mut self,
        response: &Response<Vec<u8>>,
        now: SystemTime,
    ) -> Result<Vec<AnyOperation>, Error> {
        let Some(sent) = self.next.take() else {
            return Ok(Vec::new());
        };
        let page = match decode_list_operations_response(self.version, self.kind, response, now) {
            Ok(page) => page,
            Err(error) => {
                // Unchanged, so the same request can be sent again.
                self.next = Some(sent);
                return Err(error);
            }
        };
        self.requested.insert(sent.to_string());
        self.empty_in_a_row = match page.items.is_empty() {
            true => self.empty_in_a_row.saturating_add(1),
            false => 0,
        };
        let mut items = page.items;
        if let Some(remaining) = &mut self.remaining {
            items.truncate(usize::try_from(*remaining).unwrap_or(usize::MAX));
            // At most `remaining` were kept, so this fits.
            *remaining -= u32::try_from(items.len()).unwrap_or(*remaining);
            if *remaining == 0 {
                return Ok(items);
            }
        }
        if let Some(link) = page.next_link {
            let (uri, version) = self.follow(&link, &sent)?;
            if self.requested.contains(&uri.to_string()) {
                return Err(Error::InvalidNextLink {
                    input: shown_url(&link),
                    reason: "it names a page read before, so the list would never end",
                });
            }
            if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
                return Err(Error::InvalidNextLink {
                    input: shown_url(&link),
                    reason: "it follows 100 empty pages in a row, so the list may never end",
                });
            }
            self.next = Some(uri);
            self.version = version;
        }
        Ok(items)
    }

    /// The URI a `nextLink` from the page at `page` names on the endpoint, with the API
    /// version kept, and the version its page is read with.
    fn follow(&self, link: &str, page: &Uri) -> Result<(Uri, ApiVersion), Error> {
        // RFC 3986 §5.2.2: a relative-path or query-only reference is relative to the page
        // that sent it; the other forms resolve as an `Operation-Location` does.
        let link = link.trim_matches([' ', '\t']);
        let joined;
        let link = match link.starts_with('/') || has_scheme(link) {
            true => link,
            false => {
                let path = page.path();
                let base = match link.starts_with('?') {
                    true => path,
                    false => &path[..path.rfind('/').map_or(0, |i| i + 1)],
                };
                joined = format!("{base}{link}");
                &joined
            }
        };
        let uri = resolve_operation_location(&self.endpoint, link).map_err(|e| match e {
            Error::InvalidOperationLocation { input, reason } => {
                Error::InvalidNextLink { input, reason }
            }
            Error::ForeignOperationLocation { origin, endpoint } => {
                Error::ForeignNextLink { origin, endpoint }
            }
            other => other,
        })?;
        if !self.version.has_api_version_query() {
            return Ok((uri, self.version));
        }
        if let Some(named) = named_version(&uri, link)? {
            return Ok((uri, named));
        }
        let separator = if uri.query().is_some() { '&' } else { '?' };
        let with_version = format!("{uri}{separator}api-version={}", self.version);
        let uri = with_version.parse().map_err(|_| Error::InvalidNextLink {
            input: shown_url(link),
            reason: "it is not a valid URI or path",
        })?;
        Ok((uri, self.version))
    }
}
