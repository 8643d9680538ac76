//! The processor runtime: a [`Processor`] names its durable consumer, the subjects it reads and
//! the subjects it may write, and handles one message at a time; [`run`] drives it with the one
//! consumer runner ([`tailrace_nats::ConsumerRunner`]).
//!
//! Each processor has a durable consumer of its own (its name), so adding one changes no other,
//! and every instance started with the same name shares that consumer: the server splits the
//! messages between them and each is handled once. Outputs are checked against the declared
//! outputs, so a processor that writes where it said it would not is caught (its input goes to
//! the DLQ with the reason) instead of feeding a stream nobody expects it in.

use std::time::Duration;

use tailrace_nats::config::ConsumerConfig;
use tailrace_nats::{
    ConsumerRunner, ConsumerSpec, Delivery, FlushId, HandleError, Handler, Outgoing, Publisher, RunnerError,
};
use tailrace_schemas::{ConsumerName, StreamName, SubjectFilter};
use tokio_util::sync::CancellationToken;

/// What a processor reads: one stream, narrowed by subject filters.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// The stream it reads.
    pub stream: StreamName,
    /// Empty: the whole stream.
    pub filters: Vec<SubjectFilter>,
}

/// A processor: a [`Handler`] (what it does with one message, and for an aggregating one its
/// window and flush) with a name, inputs and outputs.
pub trait Processor: Handler {
    /// Its durable consumer's name, and its name on `tailrace process`.
    fn name(&self) -> &ConsumerName;
    fn inputs(&self) -> Inputs;
    /// Every subject it may publish to.
    fn outputs(&self) -> Vec<SubjectFilter>;
    /// One line for `tailrace process --list` and the consumer's description.
    fn description(&self) -> &'static str;
}

/// Runs `processor` on its durable consumer until `cancel` fires, then flushes and returns.
pub async fn run<P: Processor>(
    processor: P,
    publisher: Publisher,
    cfg: ConsumerConfig,
    cancel: CancellationToken,
) -> Result<(), RunnerError> {
    let inputs = processor.inputs();
    let mut spec = ConsumerSpec::new(processor.name().clone(), inputs.stream, inputs.filters);
    spec.description = processor.description().to_owned();
    let checked = Checked { outputs: processor.outputs(), processor };
    ConsumerRunner::new(spec, cfg, publisher).run(checked, cancel).await
}

/// A processor whose outputs are checked against its declaration.
struct Checked<P> {
    processor: P,
    outputs: Vec<SubjectFilter>,
}

impl<P: Processor> Checked<P> {
    fn check(&self, outputs: Vec<Outgoing>) -> Result<Vec<Outgoing>, HandleError> {
        if let Some(stray) = outputs.iter().find(|o| !self.outputs.iter().any(|f| f.matches(&o.subject))) {
            let declared: Vec<&str> = self.outputs.iter().map(|f| f.as_str()).collect();
            return Err(HandleError::Reject(format!(
                "processor {} wrote {}, outside its declared outputs [{}]",
                self.processor.name().as_str(),
                stray.subject,
                declared.join(", ")
            )));
        }
        Ok(outputs)
    }
}

impl<P: Processor> Handler for Checked<P> {
    async fn handle(&self, delivery: &Delivery) -> Result<Vec<Outgoing>, HandleError> {
        self.check(self.processor.handle(delivery).await?)
    }

    fn concurrent(&self) -> bool {
        self.processor.concurrent()
    }

    fn window(&self) -> Option<Duration> {
        self.processor.window()
    }

    async fn flush(&self, id: FlushId) -> Result<Vec<Outgoing>, HandleError> {
        self.check(self.processor.flush(id).await?)
    }
}
