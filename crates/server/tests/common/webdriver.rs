//! Real Chromium driven over W3C WebDriver (the system `chromedriver`), for browser tests.
//!
//! A few JSON calls over HTTP are all the tests need, so this speaks the protocol directly
//! instead of pulling in a WebDriver crate. Chromium runs headless with every background
//! service off and a resolver that knows only loopback, so no test traffic leaves the machine.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub struct Browser {
    driver: Child,
    profile: PathBuf,
    http: reqwest::Client,
    session: String,
    /// Where screenshots of each step are kept (a folder under `target/`).
    shots: PathBuf,
}

#[derive(Clone)]
pub struct Element(String);

fn find_program(names: &[&str]) -> Option<String> {
    names.iter().find_map(|name| {
        ["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"]
            .iter()
            .map(|dir| format!("{dir}/{name}"))
            .find(|path| std::path::Path::new(path).exists())
    })
}

impl Browser {
    /// Starts chromedriver and one headless Chromium session, or returns `None` (skipping the
    /// test) where they are not installed; CI installs them, so there a miss is a failure.
    pub async fn start(test: &str) -> Option<Self> {
        let (Some(driver_path), Some(chromium)) = (
            find_program(&["chromedriver"]),
            find_program(&["chromium", "chromium-browser", "chrome"]),
        ) else {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide chromium and chromedriver"
            );
            eprintln!(
                "skipping: chromium/chromedriver not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = super::free_port();
        let driver = Command::new(driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        keel_platform::crypto::install_tls_provider();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let ready = super::eventually(Duration::from_secs(20), || async {
            let status = http.get(format!("{base}/status")).send().await.ok()?;
            let body: Value = status.json().await.ok()?;
            body["value"]["ready"].as_bool().filter(|r| *r)
        })
        .await;
        assert!(ready.is_some(), "chromedriver did not become ready");
        let profile = tempfile::tempdir().unwrap().keep();
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-default-apps",
            "--disable-sync",
            "--disable-domain-reliability",
            "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
            "--no-pings",
            "--no-proxy-server",
            // Any name but loopback fails to resolve: nothing leaves the machine.
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.display())])
        .collect::<Vec<_>>();
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}}))
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/browser-screenshots")
            .join(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        Some(Self {
            driver,
            profile,
            http,
            session: format!("{base}/session/{session}"),
            shots,
        })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("webdriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Runs `script` (a function body; arguments in `arguments`) and returns its result.
    pub async fn run(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs an async script; it finishes by calling `arguments[arguments.length - 1]`.
    pub async fn run_async(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The first element matching `css`, waiting up to 20 seconds for it to appear (a loaded
    /// CI machine runs many tests beside this one).
    pub async fn find(&self, css: &str) -> Element {
        let found = super::eventually(Duration::from_secs(20), || async {
            let answer: Value = self
                .http
                .post(format!("{}/element", self.session))
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            answer["value"][ELEMENT]
                .as_str()
                .map(|id| Element(id.into()))
        })
        .await;
        found.unwrap_or_else(|| panic!("no element {css} on the page"))
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/click", element.0),
            Some(json!({})),
        )
        .await;
    }

    /// Clears the field at `css` and types `text` into it.
    pub async fn fill(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/clear", element.0),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{}/value", element.0),
            Some(json!({"text": text})),
        )
        .await;
    }

    /// The visible text of the whole page.
    pub async fn text(&self) -> String {
        self.run("return document.body.innerText;", json!([]))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits up to `limit` for the page text to contain `needle`.
    pub async fn wait_for_text(&self, needle: &str, limit: Duration) -> bool {
        super::eventually(limit, || async {
            self.text().await.contains(needle).then_some(())
        })
        .await
        .is_some()
    }

    /// Waits until the page's live-update stream is connected.
    pub async fn wait_until_live(&self) {
        let open = super::eventually(Duration::from_secs(10), || async {
            let state = self
                .run(
                    "return document.querySelector('[data-live]')?.dataset.liveState ?? null;",
                    json!([]),
                )
                .await;
            (state == "open").then_some(())
        })
        .await;
        assert!(open.is_some(), "the page's live stream did not connect");
    }

    /// Emulates a phone of `width` CSS pixels (0: back to the desktop window).
    pub async fn viewport(&self, width: u32) {
        let (cmd, params) = if width == 0 {
            ("Emulation.clearDeviceMetricsOverride", json!({}))
        } else {
            (
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": 780, "deviceScaleFactor": 2, "mobile": true}),
            )
        };
        self.call(
            reqwest::Method::POST,
            "/goog/cdp/execute",
            Some(json!({"cmd": cmd, "params": params})),
        )
        .await;
    }

    /// How many CSS pixels the page is wider than the viewport (0 when nothing scrolls sideways).
    pub async fn overflow(&self) -> i64 {
        self.run(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            json!([]),
        )
        .await
        .as_i64()
        .unwrap_or(0)
    }

    /// Keeps a PNG of the page as `NN-name.png` in the test's screenshot folder.
    pub async fn screenshot(&self, name: &str) {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap_or_default())
            .unwrap();
        let index = std::fs::read_dir(&self.shots)
            .map(|d| d.count())
            .unwrap_or(0);
        std::fs::write(self.shots.join(format!("{index:02}-{name}.png")), png).unwrap();
    }

    /// Runs axe-core on the page and returns its serious and critical violations, one line
    /// each; `None` where axe-core is not installed (CI installs it from npm).
    pub async fn accessibility_violations(&self) -> Option<Vec<String>> {
        let axe = axe_source()?;
        self.run(&axe, json!([])).await;
        let result = self
            .run_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then((r) => done(r.violations
                     .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                     .map((v) => v.id + ': ' + v.help + ' @ ' + v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', '))))
                   .catch((e) => done(['axe failed: ' + e]));",
                json!([]),
            )
            .await;
        Some(
            result
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        )
    }
}

/// axe-core's script: `KEEL_AXE_JS`, or `node_modules/axe-core/axe.min.js` in the repository
/// or its `target/browser-tools` folder.
fn axe_source() -> Option<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var("KEEL_AXE_JS").ok().map(PathBuf::from),
        Some(root.join("target/browser-tools/node_modules/axe-core/axe.min.js")),
        Some(root.join("node_modules/axe-core/axe.min.js")),
    ];
    let found = candidates
        .into_iter()
        .flatten()
        .find_map(|path| std::fs::read_to_string(path).ok());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must provide axe-core (npm install axe-core in target/browser-tools)"
        );
        eprintln!("skipping the accessibility check: axe-core is not installed");
    }
    found
}

impl Browser {
    /// Ends the session (Chromium exits) before chromedriver is stopped.
    pub async fn quit(self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
