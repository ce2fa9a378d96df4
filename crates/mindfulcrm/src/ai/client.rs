//! The wire: one OpenAI-compatible chat completion (`POST {base}/chat/completions`), as
//! OpenAI, OpenRouter, Mistral, Groq, Ollama, llama.cpp and vLLM all answer it. Every request
//! goes through the outgoing-address guard with the provider's time limit and a size cap.

use std::time::Duration;

use keel_platform::outbound::{Method, Outbound, OutboundError};
use serde::Deserialize;
use serde_json::json;

/// Largest answer read.
const MAX_ANSWER_BYTES: usize = 2_000_000;

/// Where to send a call.
pub struct Endpoint<'a> {
    pub base_url: &'a str,
    pub api_key: Option<&'a str>,
    pub timeout: Duration,
}

/// What to ask.
pub struct Prompt<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub user: &'a str,
    pub max_tokens: u32,
}

/// The answer and what the provider says it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// What the provider charged (OpenRouter's `usage.cost`), in micro-dollars.
    pub cost_micros: Option<i64>,
}

/// Why a call gave no answer. Every kind lets the selector try the next candidate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("rate limited by the provider")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the provider answered {0}")]
    Server(u16),
    #[error("timed out")]
    TimedOut,
    #[error("the prompt is longer than the model's context window")]
    ContextLength,
    #[error("the provider refused the request ({0}): {1}")]
    Refused(u16, String),
    #[error("the answer could not be read: {0}")]
    Malformed(String),
    #[error("{0}")]
    Network(String),
}

#[derive(Deserialize)]
struct Answer {
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<i64>,
    completion_tokens: Option<i64>,
    /// OpenRouter: what the call cost, in dollars.
    cost: Option<f64>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<serde_json::Value>,
}

/// The URL of the chat-completions endpoint under a base such as `https://api.openai.com/v1`.
pub fn completions_url(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

pub async fn complete(
    outbound: &Outbound,
    endpoint: &Endpoint<'_>,
    prompt: &Prompt<'_>,
) -> Result<Completion, CallError> {
    let body = json!({
        "model": prompt.model,
        "messages": [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ],
        "max_tokens": prompt.max_tokens,
        "temperature": 0.2,
        "stream": false,
    });
    let mut request = outbound
        .request(Method::POST, &completions_url(endpoint.base_url))
        .timeout(endpoint.timeout)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body.to_string());
    if let Some(key) = endpoint.api_key {
        request = request.bearer_auth(key);
    }
    let answer = tokio::time::timeout(endpoint.timeout, outbound.fetch(request, MAX_ANSWER_BYTES))
        .await
        .map_err(|_| CallError::TimedOut)?
        .map_err(|e| match e {
            OutboundError::Failed(reason) if reason == "timed out" => CallError::TimedOut,
            other => CallError::Network(other.to_string()),
        })?;
    match answer.status {
        200..=299 => read_answer(&answer.body),
        429 => Err(CallError::RateLimited {
            retry_after: answer
                .header("retry-after")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs),
        }),
        status @ 500..=599 => Err(CallError::Server(status)),
        status => {
            let error = serde_json::from_slice::<ErrorAnswer>(&answer.body).ok();
            let message = error
                .as_ref()
                .map(|e| e.error.message.chars().take(300).collect::<String>())
                .unwrap_or_default();
            let code = error
                .and_then(|e| e.error.code)
                .map(|c| c.to_string())
                .unwrap_or_default();
            let too_long = code.contains("context_length")
                || message.contains("context length")
                || message.contains("maximum context");
            if status == 400 && too_long {
                Err(CallError::ContextLength)
            } else {
                Err(CallError::Refused(status, message))
            }
        }
    }
}

fn read_answer(body: &[u8]) -> Result<Completion, CallError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| CallError::Malformed(e.to_string()))?;
    let text = answer
        .choices
        .into_iter()
        .next()
        .and_then(|c| c.message.content)
        .ok_or_else(|| CallError::Malformed("no message in the answer".into()))?;
    let usage = answer.usage;
    Ok(Completion {
        text,
        input_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
        output_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
        cost_micros: usage
            .and_then(|u| u.cost)
            .filter(|c| c.is_finite() && *c >= 0.0)
            .map(|c| (c * 1_000_000.0).round() as i64),
    })
}
