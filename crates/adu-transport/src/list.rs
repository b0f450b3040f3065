//! Lists of operations: [`DeviceUpdateClient::list_operations`] and
//! [`DeviceUpdateClient::list_operation_pages`] drive `adu-model`'s sans-IO [`Pager`], one
//! request per page, each through the client's retrying send.

use std::time::SystemTime;

use adu_model::{build_get_request, AnyOperation, ListOptions, OperationKind, Pager};
use futures_util::stream::{self, Stream, TryStreamExt as _};

use crate::client::DeviceUpdateClient;
use crate::error::Error;

impl DeviceUpdateClient {
    /// The operations of `kind` that `options` asks for, in the service's order, following
    /// `nextLink` from page to page: one request per page, made when the stream is polled
    /// past the page before, so at most one page is held.
    ///
    /// Each page is read like [`Self::get_operation_status`]: retried after throttling or a
    /// passing failure, its token refreshed once after a 401. A `nextLink` is followed only
    /// on the endpoint's origin, with the API version kept; a link to another origin, one
    /// this crate cannot read, or one that names a page read before (a service that loops)
    /// ends the stream with [`Error::InvalidInput`] holding the model's `ForeignNextLink`,
    /// `UnknownApiVersion` or `InvalidNextLink`, that page's operations not given. `top` limits
    /// the total the stream yields. The stream ends after its first error; device-management
    /// operations in the legacy API are that error, before anything is sent.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use adu_auth::StaticTokenCredential;
    /// use adu_transport::{DeviceUpdateClient, ListOptions, OperationFilter, OperationKind, OperationStatus};
    /// use futures_util::TryStreamExt as _;
    ///
    /// # async fn demo() -> Result<(), adu_transport::Error> {
    /// let credential = Arc::new(StaticTokenCredential::from_secret("eyJ0eXAi..."));
    /// let client = DeviceUpdateClient::builder("contoso.api.adu.microsoft.com", "blue", credential)
    ///     .build()?;
    /// let running = OperationFilter::Statuses(vec![OperationStatus::NotStarted, OperationStatus::Running]);
    /// let options = ListOptions::default().with_filter(running).with_top(50);
    /// let mut operations = std::pin::pin!(client.list_operations(OperationKind::Update, options));
    /// while let Some(operation) = operations.try_next().await? {
    ///     println!("{} {}", operation.operation_id(), operation.status());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_operations(
        &self,
        kind: OperationKind,
        options: ListOptions,
    ) -> impl Stream<Item = Result<AnyOperation, Error>> + Send + 'static {
        self.list_operation_pages(kind, options)
            .map_ok(|page| stream::iter(page.into_iter().map(Ok)))
            .try_flatten()
    }

    /// Like [`Self::list_operations`], a page at a time: each item is the operations of one
    /// page (cut at `top`), in order; a page may be empty.
    pub fn list_operation_pages(
        &self,
        kind: OperationKind,
        options: ListOptions,
    ) -> impl Stream<Item = Result<Vec<AnyOperation>, Error>> + Send + 'static {
        let endpoint = self.endpoint();
        let pager = Pager::new(
            endpoint,
            self.instance(),
            kind,
            self.api_version(),
            &options,
        )
        .map_err(Error::from_model);
        stream::try_unfold((self.clone(), pager), move |(client, pager)| async move {
            let pager = pager?;
            let Some(request) = pager.next_request() else {
                return Ok(None);
            };
            let (pager, items) = client.read_page(pager, request.uri(), kind).await?;
            Ok(Some((items, (client, Ok(pager)))))
        })
    }

    /// Reads the page `pager` asks for at `uri`: the pager moved on past it, and its items.
    async fn read_page(
        &self,
        pager: Pager,
        uri: &http::Uri,
        kind: OperationKind,
    ) -> Result<(Pager, Vec<AnyOperation>), Error> {
        let target = self.resolve_page(uri.clone(), uri.path(), pager.version(), kind)?;
        let request = build_get_request(uri.clone(), None).map_err(Error::from_model)?;
        // Each try reads the answer with a copy of the pager, so a try that fails (or an
        // answer read again once its token is scrubbed) leaves `pager` as it was.
        let decode = |response: &http::Response<Vec<u8>>, _: &tracing::Span| {
            let mut next = pager.clone();
            let items = next.handle_response(response, SystemTime::now())?;
            Ok((next, items))
        };
        self.send(&target, request, None, decode).await
    }
}
