//! A small Chrome DevTools Protocol driver for the console's browser tests: Debian's
//! `chromium`, headless, one WebSocket to the browser, flat sessions (one per page).
//!
//! Why not Playwright or a CDP crate: the suite must stay `cargo test` on a fresh machine (no
//! Node packages to install first), and what the tests need — navigate, evaluate, wait for a
//! condition, screenshot, emulate the viewport and colour scheme — is six CDP methods.
//! Clicks and typing go through the DOM (`el.click()`, `value` + an `input` event), which is
//! what the console listens to.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

type Pending = Arc<Mutex<HashMap<u64, oneshot::Sender<Result<Value, String>>>>>;

/// Where Chromium is: `$CHROMIUM`, else Debian's `/usr/bin/chromium`. On a fresh Debian
/// machine (run as root, no `$CHROMIUM`) the first test installs the package itself, so the
/// README's one test command still does everything; otherwise a missing browser fails the
/// tests with the command that installs it — they are never skipped.
pub fn chromium_path() -> PathBuf {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !path.exists() && std::env::var_os("CHROMIUM").is_none() {
        INSTALL.call_once(|| {
            let root = Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
            if root && Path::new("/usr/bin/apt-get").exists() {
                eprintln!("installing Debian's chromium for the console's browser tests…");
                let ok = Command::new("sh")
                    .args([
                        "-c",
                        "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
                         || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)",
                    ])
                    .status()
                    .map(|s| s.success())
                    .unwrap_or(false);
                eprintln!("apt-get install chromium: {}", if ok { "done" } else { "failed" });
            }
        });
    }
    assert!(
        path.exists(),
        "the console's browser tests need Chromium at {} (Debian: `apt-get install -y chromium`, \
         or set CHROMIUM to its path)",
        path.display()
    );
    path
}

/// Things the page reported that a test should fail on: uncaught exceptions, `console.error`
/// (a Content-Security-Policy violation is reported there too) and failed loads.
#[derive(Default, Debug, Clone)]
pub struct PageLog {
    pub errors: Vec<String>,
}

pub struct Browser {
    child: Child,
    profile: PathBuf,
    tx: mpsc::UnboundedSender<Message>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    logs: Arc<Mutex<HashMap<String, PageLog>>>,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    pub async fn launch() -> Browser {
        let profile = std::env::temp_dir().join(format!(
            "jobintel-chromium-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&profile).unwrap();
        let mut child = Command::new(chromium_path())
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--hide-scrollbars",
                "--mute-audio",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        // Chromium prints `DevTools listening on ws://…` on stderr once it listens.
        let stderr = child.stderr.take().unwrap();
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if !sent && let Some(i) = line.find("ws://") {
                    let _ = url_tx.send(line[i..].trim().to_string());
                    sent = true;
                }
            }
        });
        let ws_url = url_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("chromium did not print its DevTools address within 60 s");
        let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
            .await
            .expect("connect to chromium's DevTools socket");
        let (mut sink, mut stream) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
        tokio::spawn(async move {
            while let Some(m) = rx.recv().await {
                if sink.send(m).await.is_err() {
                    break;
                }
            }
        });
        let pending: Pending = Arc::default();
        let logs: Arc<Mutex<HashMap<String, PageLog>>> = Arc::default();
        {
            let pending = pending.clone();
            let logs = logs.clone();
            tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    let Message::Text(text) = msg else { continue };
                    let Ok(v) = serde_json::from_str::<Value>(&text) else {
                        continue;
                    };
                    if let Some(id) = v.get("id").and_then(Value::as_u64) {
                        if let Some(reply) = pending.lock().unwrap().remove(&id) {
                            let r = match v.get("error") {
                                Some(e) => Err(e.to_string()),
                                None => Ok(v.get("result").cloned().unwrap_or(Value::Null)),
                            };
                            let _ = reply.send(r);
                        }
                        continue;
                    }
                    let session = v["sessionId"].as_str().unwrap_or_default().to_string();
                    let p = &v["params"];
                    let error = match v["method"].as_str() {
                        Some("Runtime.exceptionThrown") => Some(format!(
                            "uncaught: {}",
                            p["exceptionDetails"]["exception"]["description"]
                                .as_str()
                                .or(p["exceptionDetails"]["text"].as_str())
                                .unwrap_or("?")
                        )),
                        Some("Runtime.consoleAPICalled") if p["type"] == "error" => Some(format!(
                            "console.error: {}",
                            p["args"]
                                .as_array()
                                .map(|a| a
                                    .iter()
                                    .map(|x| x["value"]
                                        .as_str()
                                        .map(str::to_string)
                                        .or(x["description"].as_str().map(str::to_string))
                                        .unwrap_or_else(|| x.to_string()))
                                    .collect::<Vec<_>>()
                                    .join(" "))
                                .unwrap_or_default()
                        )),
                        Some("Log.entryAdded") if p["entry"]["level"] == "error" => Some(format!(
                            "log: {} {}",
                            p["entry"]["text"].as_str().unwrap_or(""),
                            p["entry"]["url"].as_str().unwrap_or("")
                        )),
                        _ => None,
                    };
                    if let Some(e) = error {
                        logs.lock()
                            .unwrap()
                            .entry(session)
                            .or_default()
                            .errors
                            .push(e);
                    }
                }
            });
        }
        let profile_dir = profile;
        Browser {
            child,
            profile: profile_dir,
            tx,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            logs,
        }
    }

    async fn send(&self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply_tx, reply_rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(id, reply_tx);
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.tx
            .send(Message::Text(msg.to_string().into()))
            .expect("DevTools socket closed");
        match tokio::time::timeout(Duration::from_secs(60), reply_rx).await {
            Ok(Ok(Ok(v))) => v,
            Ok(Ok(Err(e))) => panic!("{method} failed: {e}"),
            _ => panic!("{method}: no answer from chromium within 60 s"),
        }
    }

    /// A new tab (its own `sessionStorage`), sized `width`×`height`.
    pub async fn page(&self, width: u32, height: u32) -> Page<'_> {
        let target = self
            .send(None, "Target.createTarget", json!({ "url": "about:blank" }))
            .await;
        let target_id = target["targetId"].as_str().unwrap().to_string();
        let attached = self
            .send(
                None,
                "Target.attachToTarget",
                json!({ "targetId": target_id, "flatten": true }),
            )
            .await;
        let session = attached["sessionId"].as_str().unwrap().to_string();
        let page = Page {
            browser: self,
            session,
        };
        for m in ["Page.enable", "Runtime.enable", "Log.enable"] {
            page.call(m, json!({})).await;
        }
        page.resize(width, height).await;
        page
    }
}

pub struct Page<'b> {
    browser: &'b Browser,
    session: String,
}

impl Page<'_> {
    pub async fn call(&self, method: &str, params: Value) -> Value {
        self.browser.send(Some(&self.session), method, params).await
    }

    pub async fn resize(&self, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
    }

    /// `prefers-color-scheme: dark` (or light).
    pub async fn color_scheme(&self, dark: bool) {
        self.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme",
                                    "value": if dark { "dark" } else { "light" } }] }),
        )
        .await;
    }

    pub async fn goto(&self, url: &str) {
        let r = self.call("Page.navigate", json!({ "url": url })).await;
        if let Some(e) = r.get("errorText").and_then(Value::as_str) {
            panic!("navigating to {url}: {e}");
        }
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its JSON value.
    pub async fn eval(&self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": expr, "awaitPromise": true, "returnByValue": true }),
            )
            .await;
        if let Some(ex) = r.get("exceptionDetails") {
            panic!(
                "evaluating `{expr}` threw: {}",
                ex["exception"]["description"]
                    .as_str()
                    .unwrap_or(&ex.to_string())
            );
        }
        r["result"]["value"].clone()
    }

    /// Waits until `expr` is truthy; on timeout fails with `what`, the page's URL, its
    /// errors and the start of its text.
    pub async fn wait_for(&self, expr: &str, what: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self
                .call(
                    "Runtime.evaluate",
                    json!({ "expression": format!("(() => {{ try {{ return ({expr}); }} catch (e) {{ return null; }} }})()"),
                            "awaitPromise": true, "returnByValue": true }),
                )
                .await;
            let value = v["result"]["value"].clone();
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if Instant::now() > deadline {
                let state = self
                    .eval("JSON.stringify({url: location.href, text: (document.body ? document.body.innerText : '').slice(0, 1500)})")
                    .await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} (`{expr}`)\npage: {}\nerrors: {:?}",
                    state.as_str().unwrap_or_default(),
                    self.log().errors
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for `[data-testid=id]` to exist (and be enabled, for form controls).
    pub async fn wait_testid(&self, id: &str) {
        self.wait_for(
            &format!("{} && !{}.disabled", q(id), q(id)),
            &format!("[data-testid={id}]"),
            Duration::from_secs(20),
        )
        .await;
    }

    /// Waits for a page root to have `data-ready="true"`.
    pub async fn wait_ready(&self, page: &str) {
        self.wait_for(
            &format!("document.querySelector('[data-testid={page}][data-ready=true]')"),
            &format!("{page} to be ready"),
            Duration::from_secs(30),
        )
        .await;
    }

    pub async fn click(&self, id: &str) {
        self.wait_testid(id).await;
        self.eval(&format!("{}.click()", q(id))).await;
    }

    /// Clicks the first element matching a CSS selector.
    pub async fn click_css(&self, css: &str) {
        let sel = serde_json::to_string(css).unwrap();
        self.wait_for(
            &format!("document.querySelector({sel}) && !document.querySelector({sel}).disabled"),
            css,
            Duration::from_secs(20),
        )
        .await;
        self.eval(&format!("document.querySelector({sel}).click()"))
            .await;
    }

    /// Sets an input's / textarea's / select's value and fires `input` and `change`.
    pub async fn fill(&self, id: &str, value: &str) {
        self.wait_testid(id).await;
        let v = serde_json::to_string(value).unwrap();
        self.eval(&format!(
            "(() => {{ const el = {}; el.focus(); el.value = {v}; \
               el.dispatchEvent(new Event('input', {{bubbles: true}})); \
               el.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
            q(id)
        ))
        .await;
    }

    /// Presses a key on the focused element (a real key event through the browser).
    pub async fn key(&self, key: &str, code: &str, key_code: u32) {
        for t in ["keyDown", "keyUp"] {
            self.call(
                "Input.dispatchKeyEvent",
                json!({ "type": t, "key": key, "code": code,
                        "windowsVirtualKeyCode": key_code, "nativeVirtualKeyCode": key_code }),
            )
            .await;
        }
    }

    pub async fn text(&self, id: &str) -> String {
        self.wait_testid(id).await;
        self.eval(&format!("{}.textContent.trim()", q(id)))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A full-page PNG at `path`.
    pub async fn screenshot(&self, path: &Path) {
        // Let fonts, charts and transitions settle.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({ "format": "png", "captureBeyondViewport": false }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }

    pub fn log(&self) -> PageLog {
        self.browser
            .logs
            .lock()
            .unwrap()
            .get(&self.session)
            .cloned()
            .unwrap_or_default()
    }

    /// Fails the test if the page threw, logged an error or broke its CSP.
    pub fn assert_no_errors(&self, ignore: &[&str]) {
        let errors: Vec<String> = self
            .log()
            .errors
            .into_iter()
            .filter(|e| !ignore.iter().any(|i| e.contains(i)))
            .collect();
        assert!(errors.is_empty(), "the page reported errors: {errors:#?}");
    }
}

/// `document.querySelector('[data-testid="…"]')`.
pub fn q(id: &str) -> String {
    format!("document.querySelector('[data-testid=\"{id}\"]')")
}
