//! The body types of the public listener and of upstream requests: the client's body on
//! its way upstream, counted against the gateway's limit ([`LimitedBody`]), and every
//! response body the listener sends ([`ResponseBody`]). Every stage that reads or answers
//! a request speaks in these, so they live here, below all of them.

use std::error::Error as StdError;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

/// Why the client's body stopped on its way upstream.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// More than the gateway's `max_body` bytes went through.
    TooLarge,
    /// Reading from the client failed.
    Client(hyper::Error),
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyError::TooLarge => f.write_str("request body exceeds the limit"),
            BodyError::Client(_) => f.write_str("reading the request body failed"),
        }
    }
}

impl StdError for BodyError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BodyError::TooLarge => None,
            BodyError::Client(error) => Some(error),
        }
    }
}

/// The client's body on its way upstream: streamed as it arrives, failing as soon as more
/// than `limit` bytes went through; or, for a body the gateway validated, the bytes it
/// read, unchanged.
#[derive(Debug)]
pub(crate) struct LimitedBody {
    source: Source,
    limit: u64,
    remaining: u64,
    /// Whether the last read of the client's stream found nothing yet: while it is, the
    /// request waits on the client, not on the upstream (which is reading).
    waiting: Arc<AtomicBool>,
}

#[derive(Debug)]
enum Source {
    Stream(Incoming),
    /// Read whole (and checked) by the gateway; `None` once sent.
    Full(Option<Bytes>),
    /// A streamed body kept for a possible retry: taken out of the slot (and so never
    /// sent again) when a try first reads it. The size hint is the client body's.
    Shared(Arc<Mutex<Option<Incoming>>>, SizeHint),
}

impl LimitedBody {
    pub(crate) fn new(inner: Incoming, limit: u64) -> LimitedBody {
        LimitedBody {
            source: Source::Stream(inner),
            limit,
            remaining: limit,
            waiting: Arc::default(),
        }
    }

    /// No body.
    pub(crate) fn empty() -> LimitedBody {
        LimitedBody {
            source: Source::Full(None),
            limit: 0,
            remaining: 0,
            waiting: Arc::default(),
        }
    }

    /// The most bytes it may carry.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Tells, once the body is on its way, whether the request is waiting for the client
    /// to send more of it.
    pub(crate) fn waiting_on_client(&self) -> Arc<AtomicBool> {
        self.waiting.clone()
    }

    /// A body already read whole (within `limit`).
    pub(crate) fn full(bytes: Bytes, limit: u64) -> LimitedBody {
        LimitedBody {
            source: Source::Full(Some(bytes)),
            limit,
            remaining: limit,
            waiting: Arc::default(),
        }
    }
}

impl Body for LimitedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Source::Shared(slot, _) = &this.source {
            // The first read takes the body: from now on no other try may send it.
            let taken = slot.lock().ok().and_then(|mut slot| slot.take());
            match taken {
                Some(inner) => this.source = Source::Stream(inner),
                None => return Poll::Ready(None),
            }
        }
        let inner = match &mut this.source {
            Source::Stream(inner) => inner,
            Source::Full(bytes) => return Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Source::Shared(..) => return Poll::Ready(None),
        };
        let polled = Pin::new(inner).poll_frame(cx);
        this.waiting.store(polled.is_pending(), Ordering::Relaxed);
        let frame = match ready!(polled) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(BodyError::Client(error)))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > this.remaining {
                this.remaining = 0;
                return Poll::Ready(Some(Err(BodyError::TooLarge)));
            }
            this.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        match &self.source {
            Source::Stream(inner) => inner.is_end_stream(),
            Source::Full(bytes) => bytes.is_none(),
            Source::Shared(_, hint) => hint.exact() == Some(0),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.source {
            Source::Stream(inner) => inner.size_hint(),
            Source::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Source::Shared(_, hint) => *hint,
        }
    }
}

/// The body of every response the public listener sends: an upstream's stream, or a
/// complete body the gateway made (problems, the OpenAPI document).
#[derive(Debug)]
pub(crate) enum ResponseBody {
    Upstream(Incoming),
    Full(Option<Bytes>),
}

impl ResponseBody {
    pub(crate) fn full(bytes: impl Into<Bytes>) -> ResponseBody {
        ResponseBody::Full(Some(bytes.into()))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            ResponseBody::Upstream(body) => Pin::new(body).poll_frame(cx),
            ResponseBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Upstream(body) => body.is_end_stream(),
            ResponseBody::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Upstream(body) => body.size_hint(),
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

/// The client's body, kept so that it can be sent again while that is safe: a body the
/// gateway read whole is replayed from memory; a streamed one only while no try has
/// started reading it (the connection failed before the request was sent).
pub(crate) enum Replay {
    Empty,
    Full(Bytes),
    Stream(Arc<Mutex<Option<Incoming>>>, SizeHint),
}

impl Replay {
    pub(crate) fn new(body: LimitedBody) -> Replay {
        let hint = body.size_hint();
        match body.source {
            Source::Full(Some(bytes)) => Replay::Full(bytes),
            Source::Full(None) => Replay::Empty,
            Source::Stream(incoming) if incoming.is_end_stream() => Replay::Empty,
            Source::Stream(incoming) => Replay::Stream(Arc::new(Mutex::new(Some(incoming))), hint),
            Source::Shared(slot, hint) => Replay::Stream(slot, hint),
        }
    }

    /// The body for one more try, if it can still be sent whole.
    pub(crate) fn body(&self, limit: u64) -> Option<LimitedBody> {
        let source = match self {
            Replay::Empty => Source::Full(None),
            Replay::Full(bytes) => Source::Full(Some(bytes.clone())),
            Replay::Stream(slot, hint) => {
                if !self.replayable() {
                    return None;
                }
                Source::Shared(slot.clone(), *hint)
            }
        };
        Some(LimitedBody {
            source,
            limit,
            remaining: limit,
            waiting: Arc::default(),
        })
    }

    /// Whether the body is still whole (a streamed one not yet read by any try).
    pub(crate) fn replayable(&self) -> bool {
        match self {
            Replay::Empty | Replay::Full(_) => true,
            Replay::Stream(slot, _) => slot.lock().is_ok_and(|s| s.is_some()),
        }
    }
}
