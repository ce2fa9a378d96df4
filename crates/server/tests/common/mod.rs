//! Test harness: a real keel server on a random port, with its own fresh database (a SQLite
//! file in a temporary directory, or a new PostgreSQL database when KEEL_TEST_DATABASE_URL is
//! set), an injected clock, and helpers to drive it over HTTP.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use keel_platform::Platform;
use keel_platform::clock::ManualClock;
use keel_platform::config::{Config, Settings};
use keel_platform::domain::Timestamp;
use serde_json::{Value, json};
use tokio::sync::watch;

pub mod accounts;
pub mod api;
pub mod crm;
pub mod dovecot;
pub mod openalert;
pub mod radicale;
pub mod webdriver;

// Not every test binary names them all.
#[allow(unused_imports)]
pub use api::{Answer, Api};
#[allow(unused_imports)]
pub use crm::{crm_contact, crm_export, crm_timeline, zip_entry};

pub const PASSWORD: &str = "correct horse battery";

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per database backend from `async fn $name(backend: Backend)`.
/// The Postgres variant is skipped (with a message) when KEEL_TEST_DATABASE_URL is unset,
/// and fails if CI=true and it is unset.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if $crate::common::postgres_url().is_none() {
                        return;
                    }
                    super::$name($crate::common::Backend::Postgres).await;
                }
            )+
        }
    };
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("KEEL_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the PostgreSQL suite: set KEEL_TEST_DATABASE_URL"
            );
            eprintln!("skipping PostgreSQL variant: KEEL_TEST_DATABASE_URL is not set");
            None
        }
    }
}

pub fn redis_url() -> Option<String> {
    match std::env::var("KEEL_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must run the Redis tests: set KEEL_TEST_REDIS_URL"
            );
            eprintln!("skipping: KEEL_TEST_REDIS_URL is not set");
            None
        }
    }
}

/// A fresh, empty database for one test; PostgreSQL databases are dropped when it drops.
pub struct TestDatabase {
    pub url: String,
    pub backend: Backend,
    dir: tempfile::TempDir,
    pg_name: Option<(String, String)>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        match backend {
            Backend::Sqlite => Self {
                url: format!("sqlite://{}?mode=rwc", dir.path().join("keel.db").display()),
                backend,
                dir,
                pg_name: None,
            },
            Backend::Postgres => {
                let admin_url = postgres_url().expect("postgres url");
                let name = format!(
                    "keel_test_{}",
                    keel_platform::crypto::random_token(12).to_lowercase()
                );
                sqlx::any::install_default_drivers();
                let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
                    .await
                    .expect("connect to test postgres");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = replace_database(&admin_url, &name);
                Self {
                    url,
                    backend,
                    dir,
                    pg_name: Some((admin_url, name)),
                }
            }
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map(|(b, q)| (b, Some(q)))
        .unwrap_or((url, None));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = self.pg_name.take() {
            // Drop runs outside async context: use a private runtime on a plain thread.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await
                    {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

pub fn settings_for(db: &TestDatabase) -> Settings {
    Settings {
        listen: "127.0.0.1:0".into(),
        data_dir: db.dir().to_path_buf(),
        database_url: Some(db.url.clone()),
        database_max_connections: Some(5),
        secret_key: Some("test-secret-key-that-is-long-enough-0123456789".into()),
        // Webhook, chat and SMS receivers in tests listen on loopback.
        outbound_allowed_networks: "127.0.0.0/8".into(),
        // Never the public avatar services: a test that wants lookups serves them itself.
        photo_lookup_urls: String::new(),
        ..Settings::default()
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub platform: Platform,
    pub clock: ManualClock,
    pub client: reqwest::Client,
    stop: watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    pub db: std::sync::Arc<TestDatabase>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Starts a server on a fresh database after letting `tweak` adjust the settings.
    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> Self {
        let db = std::sync::Arc::new(TestDatabase::new(backend).await);
        let mut settings = settings_for(&db);
        tweak(&mut settings);
        Self::spawn_on(db, settings).await
    }

    /// Starts a server on an existing database (a second node, or a restart).
    pub async fn spawn_on(db: std::sync::Arc<TestDatabase>, settings: Settings) -> Self {
        let config = Config::validate(settings).expect("valid test config");
        let clock = ManualClock::new(Timestamp::from_millis(
            jiff::Timestamp::now().as_millisecond(),
        ));
        let platform = keel_server::platform(config, std::sync::Arc::new(clock.clone()))
            .await
            .expect("platform starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn(keel_server::serve(platform.clone(), listener, stopped));
        Self {
            addr,
            base: format!("http://{addr}"),
            platform,
            clock,
            client: browser(&format!("http://{addr}")),
            stop,
            server: Some(server),
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The body of a page fetched with `client`, whatever its status.
    pub async fn page_text(&self, client: &reqwest::Client, path: &str) -> String {
        self.api(client).get(path).await.text
    }

    /// A new cookie jar: another browser.
    pub fn new_client(&self) -> reqwest::Client {
        browser(&self.base)
    }

    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), server).await;
        }
    }

    /// Creates the first admin through the setup API and signs `self.client` in as them.
    pub async fn setup_admin(&self) -> Value {
        self.admin_api()
            .post(
                "/api/v1/setup",
                json!({"setup_token": self.platform.setup_token(), "email": "admin@example.com", "name": "Ada Admin", "password": PASSWORD}),
            )
            .await
            .expect(201);
        self.login(&self.client, "admin@example.com", PASSWORD)
            .await
    }

    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> Value {
        self.api(client)
            .post(
                "/api/v1/auth/login",
                json!({"email": email, "password": password}),
            )
            .await
            .json_ok()
    }

    /// Creates a member (as the admin in `self.client`) and returns a client signed in as them.
    pub async fn member(&self, email: &str) -> (i64, reqwest::Client) {
        let user = self
            .admin_api()
            .post(
                "/api/v1/users",
                json!({"email": email, "name": email.split('@').next().unwrap(), "password": PASSWORD}),
            )
            .await
            .expect(201);
        let client = self.new_client();
        self.login(&client, email, PASSWORD).await;
        (user.id(), client)
    }

    pub async fn create_team(&self, name: &str) -> i64 {
        self.admin_api()
            .post("/api/v1/teams", json!({"name": name}))
            .await
            .expect(201)
            .id()
    }

    pub async fn add_member(&self, team: i64, user_id: i64, role: &str) {
        self.admin_api()
            .post(
                &format!("/api/v1/teams/{team}/members"),
                json!({"user_id": user_id, "role": role}),
            )
            .await
            .expect(201);
    }
}

/// A cookie-keeping client that says where its requests come from, as browsers do (`Origin`
/// on every request that changes something); a request may set its own to pretend otherwise.
pub fn browser(base: &str) -> reqwest::Client {
    keel_platform::crypto::install_tls_provider();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::ORIGIN, base.parse().unwrap());
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A client for programs: cookies kept, nothing said about origin.
pub fn client() -> reqwest::Client {
    keel_platform::crypto::install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Polls `check` until it returns Some or `limit` passes.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a Python module is importable (for real peer servers such as aiosmtpd).
/// In CI a missing peer is a failure, elsewhere a skip.
pub fn python_module_available(module: &str) -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("CI").is_err(),
            "CI must provide python module {module}"
        );
        eprintln!("skipping: python module {module} is not installed (pip install {module})");
    }
    ok
}

/// A real SMTP server (aiosmtpd) on a free loopback port, storing mail in a maildir.
pub struct SmtpServer {
    pub port: u16,
    maildir: tempfile::TempDir,
    child: std::process::Child,
}

impl SmtpServer {
    pub fn start() -> Option<Self> {
        if !python_module_available("aiosmtpd") {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let maildir = tempfile::tempdir().unwrap();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            // A path that does not exist yet: the handler creates the maildir there.
            .arg(maildir.path().join("box"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start aiosmtpd");
        Some(Self {
            port,
            maildir,
            child,
        })
    }

    pub async fn wait_ready(&self) {
        let ok = eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .ok()
                .map(|_| ())
        })
        .await;
        assert!(ok.is_some(), "aiosmtpd did not start");
    }

    pub fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("box").join("new");
        std::fs::read_dir(dir)
            .map(|d| {
                d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The six-digit code in a verification message.
pub fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    digits
        .windows(6)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
        .expect("a code in the message")
}

/// One HTTP request a [`Receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

/// A real HTTP server on loopback that records every POST and answers `status` (stands in for
/// Slack, Twilio or a customer's webhook endpoint).
pub struct Receiver {
    pub url: String,
    requests: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    status: std::sync::Arc<std::sync::atomic::AtomicU16>,
    stalled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    pub async fn start() -> Self {
        let requests = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let status = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
        let stalled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (log, answer, stall) = (requests.clone(), status.clone(), stalled.clone());
        let app = axum::Router::new().fallback(
            move |uri: axum::http::Uri, headers: axum::http::HeaderMap, body: String| {
                let (log, answer, stall) = (log.clone(), answer.clone(), stall.clone());
                async move {
                    log.lock().unwrap().push(Received {
                        path: uri.path().to_string(),
                        headers,
                        body,
                    });
                    if stall.load(std::sync::atomic::Ordering::SeqCst) {
                        std::future::pending::<()>().await;
                    }
                    let code = answer.load(std::sync::atomic::Ordering::SeqCst);
                    (axum::http::StatusCode::from_u16(code).unwrap(), "{}")
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            requests,
            status,
            stalled,
        }
    }

    /// Makes the next requests hang without an answer (a provider in the middle of a send),
    /// or answer again.
    pub fn stall(&self, on: bool) {
        self.stalled.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn requests(&self) -> Vec<Received> {
        self.requests.lock().unwrap().clone()
    }

    /// Makes the next answers fail (or succeed again).
    pub fn answer(&self, status: u16) {
        self.status
            .store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// Waits until at least `n` requests arrived on paths starting with `prefix`.
    pub async fn wait_for(&self, prefix: &str, n: usize) -> Vec<Received> {
        let found = eventually(Duration::from_secs(15), || async {
            let got: Vec<Received> = self
                .requests()
                .into_iter()
                .filter(|r| r.path.starts_with(prefix))
                .collect();
            (got.len() >= n).then_some(got)
        })
        .await;
        found.unwrap_or_else(|| {
            panic!(
                "expected {n} requests on {prefix}, got {:?}",
                self.requests()
            )
        })
    }
}

// ---- JSON API helpers ----

/// Sends a request with an optional JSON body; returns the status and the JSON answer (null
/// when the body is not JSON).
pub async fn send(
    client: &reqwest::Client,
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let answer = app.api(client).send(method, path, body).await;
    (answer.status, answer.body)
}

/// POSTs JSON and insists on a 2xx.
pub async fn post(app: &TestApp, client: &reqwest::Client, path: &str, body: Value) -> Value {
    app.api(client).post(path, body).await.ok()
}

/// GETs JSON and insists on a 200.
pub async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Value {
    app.api(client).get(path).await.json_ok()
}

/// The fields a validation problem names, in its order.
pub fn field_names(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Subjects of the mail written to the data directory (no SMTP configured).
pub fn mailed(app: &TestApp) -> Vec<String> {
    let dir = app.db.dir().join("mail");
    let mut subjects: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .filter_map(|m| {
                    m.lines()
                        .find(|l| l.starts_with("Subject: "))
                        .map(|l| l[9..].to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    subjects.sort();
    subjects
}

/// Every mail the server wrote to its mail drop, whole, with quoted-printable soft line
/// breaks and escaped equals signs undone.
pub fn mail_drop(app: &TestApp) -> Vec<String> {
    let dir = app.db.dir().join("mail");
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .map(|m| m.replace("=\r\n", "").replace("=3D", "="))
                .collect()
        })
        .unwrap_or_default()
}
