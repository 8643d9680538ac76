//! Groups items into batches by count, size and age: a batch is complete when it holds
//! `max_items` or `max_bytes`, or when its first item is `linger` old, whichever comes first.
//! The owner drives it: `push` returns a full batch, `deadline` says when to `take` a partial one.

use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
pub struct Batcher<T> {
    items: Vec<T>,
    bytes: usize,
    first_at: Option<Instant>,
    max_items: usize,
    max_bytes: usize,
    linger: Duration,
}

impl<T> Batcher<T> {
    pub fn new(max_items: usize, max_bytes: usize, linger: Duration) -> Self {
        Self {
            items: Vec::with_capacity(max_items.min(4096)),
            bytes: 0,
            first_at: None,
            max_items: max_items.max(1),
            max_bytes: max_bytes.max(1),
            linger,
        }
    }

    /// Adds an item of `size` bytes; returns the batch if this completed it.
    pub fn push(&mut self, item: T, size: usize) -> Option<Vec<T>> {
        if self.items.is_empty() {
            self.first_at = Some(Instant::now());
        }
        self.items.push(item);
        self.bytes += size;
        (self.items.len() >= self.max_items || self.bytes >= self.max_bytes).then(|| self.take_all())
    }

    /// When the current partial batch must be taken; `None` when empty.
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.linger)
    }

    /// Takes whatever is held, if anything.
    pub fn take(&mut self) -> Option<Vec<T>> {
        (!self.items.is_empty()).then(|| self.take_all())
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn take_all(&mut self) -> Vec<T> {
        self.bytes = 0;
        self.first_at = None;
        std::mem::replace(&mut self.items, Vec::with_capacity(self.max_items.min(4096)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completes_on_count_or_bytes() {
        let mut b = Batcher::new(3, 1000, Duration::from_millis(20));
        assert!(b.push(1, 10).is_none());
        assert!(b.push(2, 10).is_none());
        assert_eq!(b.push(3, 10), Some(vec![1, 2, 3]));
        assert!(b.is_empty() && b.deadline().is_none());
        assert_eq!(b.push(4, 2000), Some(vec![4]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_partial_batch_is_due_linger_after_its_first_item() {
        let mut b = Batcher::new(100, 1 << 20, Duration::from_millis(20));
        let start = Instant::now();
        b.push("a", 1);
        tokio::time::advance(Duration::from_millis(5)).await;
        b.push("b", 1);
        assert_eq!(b.deadline(), Some(start + Duration::from_millis(20)));
        assert_eq!(b.take(), Some(vec!["a", "b"]));
        assert_eq!(b.take(), None);
    }
}
