//! The optional Redis connection shared by the event bus and the rate limiter.

#[derive(Clone)]
pub struct Redis {
    pub client: redis::Client,
    pub manager: redis::aio::ConnectionManager,
    /// Prefix of every key and channel, so several deployments (or tests) can share a server.
    pub prefix: String,
}

impl Redis {
    pub async fn connect(url: &str, prefix: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let manager = client.get_connection_manager().await?;
        Ok(Self {
            client,
            manager,
            prefix: prefix.to_string(),
        })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.prefix)
    }

    pub async fn ping(&self) -> redis::RedisResult<()> {
        let mut conn = self.manager.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
    }
}
