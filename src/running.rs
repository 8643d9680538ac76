//! [`Running`]: the tasks of a role (processors, sinks), by name; when one fails the others are
//! cancelled and the failure is returned.

use futures::future::{select_all, BoxFuture};
use futures::FutureExt;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Running tasks of a role, by name.
#[derive(Default)]
pub struct Running {
    tasks: Vec<(String, BoxFuture<'static, anyhow::Result<()>>)>,
}

impl Running {
    /// Adds a task that ends with a typed error.
    pub fn push<E>(&mut self, name: String, task: JoinHandle<Result<(), E>>)
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let label = name.clone();
        let done = task.map(move |joined| match joined {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(anyhow::Error::new(e).context(label)),
            Err(e) => Err(anyhow::anyhow!("{label}: its task failed: {e}")),
        });
        self.tasks.push((name, done.boxed()));
    }

    /// Adds every task of `other`.
    pub fn extend(&mut self, other: Running) {
        self.tasks.extend(other.tasks);
    }

    /// Waits until every task has ended (after `cancel`, or on its own when one fails: then the
    /// others are cancelled too and the first failure is returned).
    pub async fn wait(self, cancel: &CancellationToken) -> anyhow::Result<()> {
        let mut tasks: Vec<_> = self.tasks.into_iter().map(|(_, t)| t).collect();
        let mut failure = None;
        while !tasks.is_empty() {
            let (result, _, rest) = select_all(tasks).await;
            tasks = rest;
            if let Err(e) = result {
                if !cancel.is_cancelled() {
                    tracing::error!(error = %format!("{e:#}"), "a role stopped; stopping the others");
                    cancel.cancel();
                }
                failure.get_or_insert(e);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}
