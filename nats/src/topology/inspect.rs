//! What the server holds: every stream with its consumers, for `/status` and `streams ls`.

use async_nats::jetstream::{self, consumer, stream};
use futures::TryStreamExt;
use serde::Serialize;

use super::TopologyError;

/// One stream as `/status` and `streams ls` show it.
#[derive(Debug, Clone, Serialize)]
pub struct StreamReport {
    pub name: String,
    pub subjects: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub replicas: usize,
    pub consumers: Vec<ConsumerReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumerReport {
    pub name: String,
    /// Messages not yet delivered to the consumer.
    pub pending: u64,
    /// Delivered and not yet acknowledged.
    pub ack_pending: usize,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: usize,
}

/// Every stream on the server with its consumers.
pub async fn inspect(js: &jetstream::Context) -> Result<Vec<StreamReport>, TopologyError> {
    let infos: Vec<stream::Info> =
        js.streams().try_collect().await.map_err(|e| TopologyError::List(e.into()))?;
    let mut out = Vec::with_capacity(infos.len());
    for info in infos {
        let stream =
            js.get_stream_no_info(&info.config.name).await.map_err(|e| TopologyError::List(e.into()))?;
        let consumers: Vec<consumer::Info> =
            stream.consumers().try_collect().await.map_err(|e| TopologyError::List(e.into()))?;
        out.push(StreamReport {
            name: info.config.name.clone(),
            subjects: info.config.subjects.clone(),
            messages: info.state.messages,
            bytes: info.state.bytes,
            first_seq: info.state.first_sequence,
            last_seq: info.state.last_sequence,
            replicas: info.config.num_replicas,
            consumers: consumers
                .into_iter()
                .map(|c| ConsumerReport {
                    name: c.name,
                    pending: c.num_pending,
                    ack_pending: c.num_ack_pending,
                    redelivered: c.num_redelivered,
                })
                .collect(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}
