//! A typed way to call the server: `app.api(&client).get(path)` answers an [`Answer`] whose
//! checks name the request (method and path) and show the body when they fail.

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::TestApp;

/// Requests to one server as one client (a cookie jar, or none), with optional extra headers.
#[derive(Clone)]
pub struct Api<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    headers: HeaderMap,
}

/// What the server answered: status, headers and body (parsed as JSON when it is JSON, else
/// `Value::Null`; the text and bytes are kept either way).
#[derive(Debug)]
pub struct Answer {
    pub method: Method,
    pub path: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    pub bytes: Vec<u8>,
}

impl TestApp {
    /// Requests made with `client` (its cookies and default headers).
    pub fn api(&self, client: &reqwest::Client) -> Api<'_> {
        Api {
            app: self,
            client: client.clone(),
            headers: HeaderMap::new(),
        }
    }

    /// Requests as the admin signed in by [`TestApp::setup_admin`].
    pub fn admin_api(&self) -> Api<'_> {
        self.api(&self.client)
    }

    /// Requests as a monitoring tool sends them: a fresh client, no cookies, no origin.
    pub fn sender(&self) -> Api<'_> {
        self.api(&reqwest::Client::new())
    }
}

impl<'a> Api<'a> {
    /// The same requests with one more header on each.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
        self
    }

    /// The same requests with `Authorization: Bearer <token>`.
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn app(&self) -> &'a TestApp {
        self.app
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let url = if path.starts_with("http://") || path.starts_with("https://") {
            path.to_string()
        } else {
            self.app.url(path)
        };
        self.client
            .request(method, url)
            .headers(self.headers.clone())
    }

    async fn answer(method: Method, path: &str, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // A server that answers early (413) may close before the body is read in full.
        let bytes = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            method,
            path: path.to_string(),
            status,
            headers,
            body,
            text,
            bytes,
        }
    }

    /// Sends `method` with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.request(method.clone(), path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::answer(method, path, request).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None).await
    }

    /// POSTs a JSON body, or nothing at all with `None`.
    pub async fn post(&self, path: &str, body: impl Into<Option<Value>>) -> Answer {
        self.send(Method::POST, path, body.into()).await
    }

    pub async fn put(&self, path: &str, body: impl Into<Option<Value>>) -> Answer {
        self.send(Method::PUT, path, body.into()).await
    }

    pub async fn patch(&self, path: &str, body: impl Into<Option<Value>>) -> Answer {
        self.send(Method::PATCH, path, body.into()).await
    }

    /// Sends a body as it is (no content type unless a header says one).
    pub async fn send_body(
        &self,
        method: Method,
        path: &str,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let request = self.request(method.clone(), path).body(body);
        Self::answer(method, path, request).await
    }

    /// POSTs a body as it is (an import file, a monitoring tool's own JSON).
    pub async fn post_body(&self, path: &str, body: impl Into<reqwest::Body>) -> Answer {
        self.send_body(Method::POST, path, body).await
    }

    /// POSTs an HTML form (`application/x-www-form-urlencoded`).
    pub async fn form(&self, path: &str, fields: &[(&str, &str)]) -> Answer {
        let request = self.request(Method::POST, path).form(fields);
        Self::answer(Method::POST, path, request).await
    }

    /// POSTs a multipart form (file uploads).
    pub async fn multipart(&self, path: &str, form: reqwest::multipart::Form) -> Answer {
        let request = self.request(Method::POST, path).multipart(form);
        Self::answer(Method::POST, path, request).await
    }

    /// GETs a JSON array and insists on a 200.
    pub async fn list(&self, path: &str) -> Vec<Value> {
        let answer = self.get(path).await.expect(200);
        match answer.body {
            Value::Array(items) => items,
            other => panic!("GET {path}: not a list: {other}"),
        }
    }

    /// GETs a page and insists on a 200; returns its text.
    pub async fn page(&self, path: &str) -> String {
        self.get(path).await.expect(200).text
    }
}

impl Answer {
    fn describe(&self) -> String {
        let mut text = self.text.clone();
        if text.len() > 4000 {
            let mut end = 4000;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        format!(
            "{} {} answered {}: {text}",
            self.method, self.path, self.status
        )
    }

    /// Insists on exactly `status`; returns the answer for more checks.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "{}", self.describe());
        self
    }

    /// Insists on a 2xx; returns the JSON body.
    #[track_caller]
    pub fn ok(self) -> Value {
        assert!(
            (200..300).contains(&self.status),
            "expected a success: {}",
            self.describe()
        );
        self.body
    }

    /// Insists on a 200; returns the JSON body.
    #[track_caller]
    pub fn json_ok(self) -> Value {
        self.expect(200).body
    }

    /// Insists on a 201; returns the JSON body.
    #[track_caller]
    pub fn created(self) -> Value {
        self.expect(201).body
    }

    /// The body's `id`.
    #[track_caller]
    pub fn id(&self) -> i64 {
        self.body["id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no id: {}", self.describe()))
    }

    /// A header as text (panics if absent).
    #[track_caller]
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header: {}", self.describe()))
            .to_str()
            .unwrap()
    }

    /// The fields a validation problem names, in its order.
    pub fn fields(&self) -> Vec<String> {
        super::field_names(&self.body)
    }
}
