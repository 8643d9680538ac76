//! Server-Sent Events on the wire: frames rendered once as `Bytes`, and a live response that
//! writes them with keep-alives.
//!
//! axum's `Sse` formats every event for every client; a subject watched by 10,000 browsers
//! would format each event 10,000 times. Here an event is rendered once (by the hub) and each
//! client's response only clones a reference-counted `Bytes`. Frames already waiting are written
//! together: hyper gathers every ready chunk of a body into one `writev`.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use tokio::time::{Instant, Sleep};

/// One event: `event:` (when named), `id:` (when given), a `data:` line per line of `data`.
pub fn frame(event: Option<&str>, id: Option<&str>, data: &str) -> Bytes {
    let mut out = BytesMut::with_capacity(data.len() + 32);
    if let Some(event) = event {
        field(&mut out, "event", event);
    }
    if let Some(id) = id {
        field(&mut out, "id", id);
    }
    // A line break inside `data` would end the field; each line becomes its own `data:`.
    for line in data.split('\n') {
        field(&mut out, "data", line.strip_suffix('\r').unwrap_or(line));
    }
    out.put_u8(b'\n');
    out.freeze()
}

fn field(out: &mut BytesMut, name: &str, value: &str) {
    out.put_slice(name.as_bytes());
    out.put_slice(b": ");
    // `event` and `id` come from us, never with line breaks; stripped anyway so they cannot
    // inject a field.
    out.extend(value.bytes().filter(|&b| b != b'\n' && b != b'\r'));
    out.put_u8(b'\n');
}

/// A comment line: ignored by `EventSource`, it keeps proxies and the client's timeout from
/// closing an idle stream.
const KEEP_ALIVE: &[u8] = b":\n\n";

/// A live SSE response of `frames`, with a keep-alive comment after `keep_alive` of silence and
/// the headers that stop proxies buffering or caching it. When `stopping` is cancelled (the
/// gateway stops) the client is sent a `shutdown` event and the response ends, so it learns why
/// and reconnects, rather than being cut mid-stream by the drain.
pub fn response(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    keep_alive: Duration,
    stopping: &tokio_util::sync::CancellationToken,
) -> Response {
    use futures::StreamExt;
    let told = stopping.clone();
    let last = futures::stream::once(async move {
        told.is_cancelled().then(|| {
            let data =
                r#"{"detail":"the gateway is stopping; reconnect (resuming after the last event id)"}"#;
            frame(Some(crate::protocol::ServerEvent::Shutdown.name()), None, data)
        })
    })
    .filter_map(futures::future::ready);
    let frames = frames.take_until(stopping.clone().cancelled_owned()).chain(last);
    let body = Body::from_stream(KeepAlive::new(frames, keep_alive));
    let mut resp = Response::new(body);
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // Proxies (nginx) must not buffer a live stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// `frames`, with a keep-alive comment whenever nothing was sent for a whole `interval`.
///
/// The timer is not reset per frame (a clock read and a timer-wheel move for every event of
/// every client); a frame only marks the interval busy, and an idle interval sends the comment.
struct KeepAlive<S> {
    frames: Pin<Box<S>>,
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    busy: bool,
}

impl<S> KeepAlive<S> {
    fn new(frames: S, interval: Duration) -> Self {
        Self {
            frames: Box::pin(frames),
            interval,
            timer: Box::pin(tokio::time::sleep(interval)),
            busy: false,
        }
    }
}

impl<S: Stream<Item = Bytes>> Stream for KeepAlive<S> {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        match this.frames.as_mut().poll_next(cx) {
            Poll::Ready(Some(frame)) => {
                this.busy = true;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => loop {
                ready!(this.timer.as_mut().poll(cx));
                this.timer.as_mut().reset(Instant::now() + this.interval);
                if !std::mem::take(&mut this.busy) {
                    return Poll::Ready(Some(Ok(Bytes::from_static(KEEP_ALIVE))));
                }
            },
        }
    }
}

impl<S> std::fmt::Debug for KeepAlive<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeepAlive").field("interval", &self.interval).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_names_its_event_and_id_and_splits_data_lines() {
        let f = frame(Some("log"), Some("7.2"), "one\r\ntwo");
        assert_eq!(&f[..], b"event: log\nid: 7.2\ndata: one\ndata: two\n\n");
    }

    #[test]
    fn a_line_break_in_a_name_cannot_inject_a_field() {
        let f = frame(Some("log\ndata: evil"), None, "x");
        assert_eq!(&f[..], b"event: logdata: evil\ndata: x\n\n");
    }

    #[tokio::test(start_paused = true)]
    async fn silence_is_filled_with_keep_alive_comments() {
        use futures::StreamExt;
        let mut s = KeepAlive::new(futures::stream::pending::<Bytes>(), Duration::from_secs(15));
        let first = s.next().await.unwrap().unwrap();
        assert_eq!(&first[..], KEEP_ALIVE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_with_frames_sends_no_keep_alive() {
        use futures::StreamExt;
        let start = Instant::now();
        let frames = futures::stream::once(async { Bytes::from_static(b"data: x\n\n") })
            .chain(futures::stream::pending());
        let mut s = KeepAlive::new(frames, Duration::from_secs(15));
        assert_eq!(&s.next().await.unwrap().unwrap()[..], b"data: x\n\n");
        assert_eq!(&s.next().await.unwrap().unwrap()[..], KEEP_ALIVE);
        // The first interval held a frame, so the comment came at the end of the second.
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }
}
