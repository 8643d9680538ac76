//! Durable consumers as processors and sinks declare them.

use async_nats::jetstream::{self, consumer};
use tailrace_schemas::{ConsumerName, StreamName, SubjectFilter};

use super::TopologyError;
use crate::config::ConsumerConfig;

/// A durable pull consumer as a processor or sink declares it.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    pub name: ConsumerName,
    pub stream: StreamName,
    /// Subjects this consumer reads; empty means the whole stream.
    pub filters: Vec<SubjectFilter>,
    pub description: String,
    /// Deliver from this stream sequence on (an in-order handler, a sink, resuming after what
    /// its tables hold); `None`: from the stream's first message.
    pub start: Option<u64>,
}

impl ConsumerSpec {
    pub fn new(name: ConsumerName, stream: StreamName, filters: Vec<SubjectFilter>) -> Self {
        Self { name, stream, filters, description: String::new(), start: None }
    }

    /// The server-side configuration. `max_deliver` is unlimited: the runner counts deliveries
    /// itself and dead-letters with the reason, rather than let the server drop silently.
    pub fn pull_config(&self, cfg: &ConsumerConfig) -> consumer::pull::Config {
        let mut filters: Vec<String> = self.filters.iter().map(|f| f.as_str().to_owned()).collect();
        let (filter_subject, filter_subjects) = match filters.len() {
            0 => (String::new(), Vec::new()),
            1 => (filters.remove(0), Vec::new()),
            _ => (String::new(), filters),
        };
        consumer::pull::Config {
            durable_name: Some(self.name.as_str().to_owned()),
            description: (!self.description.is_empty()).then(|| self.description.clone()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: cfg.ack_wait,
            max_deliver: -1,
            filter_subject,
            filter_subjects,
            max_ack_pending: (cfg.batch * 8).max(1024) as i64,
            deliver_policy: match self.start {
                Some(seq) if seq > 1 => consumer::DeliverPolicy::ByStartSequence { start_sequence: seq },
                _ => consumer::DeliverPolicy::All,
            },
            ..Default::default()
        }
    }

    /// Creates the consumer, or updates it to this declaration if it exists.
    pub async fn ensure(
        &self,
        js: &jetstream::Context,
        cfg: &ConsumerConfig,
    ) -> Result<consumer::PullConsumer, TopologyError> {
        let err = |source: async_nats::Error| TopologyError::Consumer {
            name: self.name.to_string(),
            stream: self.stream.to_string(),
            source,
        };
        let stream = js.get_stream(self.stream.as_str()).await.map_err(|e| err(e.into()))?;
        let config = self.pull_config(cfg);
        match stream.create_consumer(config.clone()).await {
            Ok(c) => Ok(c),
            // An existing durable with other settings: update it in place, keeping its position.
            Err(_) => {
                js.update_consumer_on_stream(config, self.stream.as_str()).await.map_err(|e| err(e.into()))
            }
        }
    }
}
