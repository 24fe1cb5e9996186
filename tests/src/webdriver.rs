//! A real browser driven through WebDriver: Debian's `chromedriver` with
//! headless Chromium, spoken to over its HTTP protocol (W3C WebDriver, a
//! handful of JSON calls), for the tests that must type into a page and
//! keep its cookies the way a person's browser does (signing in).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::{json, Value};

/// The key of an element reference in WebDriver's answers.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A running `chromedriver` on a port of its own; stopped when dropped.
#[derive(Debug)]
pub struct Driver {
    base: String,
    http: reqwest::Client,
    _child: tokio::process::Child,
}

/// `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian's packages).
/// Missing is a failure, not a skip.
pub fn binaries() -> Result<(PathBuf, PathBuf)> {
    let driver = Path::new("/usr/bin/chromedriver");
    let browser = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists());
    match (driver.exists(), browser) {
        (true, Some(b)) => Ok((driver.to_owned(), b.to_owned())),
        _ => bail!(
            "chromedriver or Chromium is not installed; the browser tests drive a real browser: \
             `apt-get install chromium chromium-driver fonts-noto-cjk` (scripts/test.sh does this)"
        ),
    }
}

impl Driver {
    /// Starts `chromedriver` and waits until it answers.
    pub async fn start() -> Result<Driver> {
        let (driver, _) = binaries()?;
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let child = tokio::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting chromedriver")?;
        let d = Driver {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(90))
                .build()?,
            _child: child,
        };
        crate::cluster::eventually(
            Duration::from_secs(30),
            "chromedriver to become ready",
            || async {
                let ready = match d.http.get(format!("{}/status", d.base)).send().await {
                    Ok(r) => r
                        .json::<Value>()
                        .await
                        .is_ok_and(|v| v["value"]["ready"] == true),
                    Err(_) => false,
                };
                Ok(ready.then_some(()))
            },
        )
        .await?;
        Ok(d)
    }

    /// A new headless browser (its own profile, Chinese first).
    pub async fn browser(&self) -> Result<Browser> {
        self.browser_with_prefs(json!({})).await
    }

    /// [`Driver::browser`] saving downloads into `dir` without asking.
    pub async fn browser_downloading_to(&self, dir: &Path) -> Result<Browser> {
        self.browser_with_prefs(json!({
            "download.default_directory": dir,
            "download.prompt_for_download": false,
            "download.directory_upgrade": true,
            "safebrowsing.enabled": true,
        }))
        .await
    }

    async fn browser_with_prefs(&self, prefs: Value) -> Result<Browser> {
        let (_, chromium) = binaries()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--no-first-run", "--lang=zh-CN",
                    "--window-size=1400,1000"],
                "prefs": prefs,
            },
        }}});
        let v = call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}/session", self.base),
            Some(caps),
        )
        .await?;
        let id = v["sessionId"]
            .as_str()
            .context("a WebDriver session id")?
            .to_owned();
        Ok(Browser {
            url: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
        })
    }
}

/// WebDriver's Tab key, for [`Browser::keys`].
pub const TAB: &str = "\u{E004}";
/// WebDriver's Enter key.
pub const ENTER: &str = "\u{E007}";
/// WebDriver's arrow down key.
pub const ARROW_DOWN: &str = "\u{E015}";

/// One browser window; [`Browser::quit`] closes it.
#[derive(Debug)]
pub struct Browser {
    url: String,
    http: reqwest::Client,
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut req = http.request(method.clone(), url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(
        status.is_success(),
        "WebDriver {method} {url}: {status} {v}"
    );
    Ok(v.get("value").cloned().unwrap_or(Value::Null))
}

impl Browser {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        call(
            &self.http,
            reqwest::Method::POST,
            &format!("{}{path}", self.url),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> Result<Value> {
        call(
            &self.http,
            reqwest::Method::GET,
            &format!("{}{path}", self.url),
            None,
        )
        .await
    }

    /// Opens `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).await?;
        Ok(())
    }

    /// The address the browser shows.
    pub async fn current_url(&self) -> Result<String> {
        Ok(self.get("/url").await?.as_str().unwrap_or("").to_owned())
    }

    /// Waits (up to 30 s) until the address the browser shows satisfies
    /// `done` (a click's navigation is not waited for by WebDriver), and
    /// returns it.
    pub async fn wait_for_url(&self, what: &str, done: impl Fn(&str) -> bool) -> Result<String> {
        crate::cluster::eventually(Duration::from_secs(30), what, || async {
            let url = self.current_url().await?;
            Ok(done(&url).then_some(url))
        })
        .await
    }

    /// The page's DOM as HTML.
    pub async fn source(&self) -> Result<String> {
        Ok(self.get("/source").await?.as_str().unwrap_or("").to_owned())
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> Result<String> {
        let v = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await
            .with_context(|| format!("finding {css}"))?;
        Ok(v[ELEMENT].as_str().context("an element id")?.to_owned())
    }

    /// Types `text` into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.post(&format!("/element/{el}/value"), json!({ "text": text }))
            .await?;
        Ok(())
    }

    /// Clicks the element `css` (a submit button: the next page loads).
    pub async fn click(&self, css: &str) -> Result<()> {
        let el = self.find(css).await?;
        self.post(&format!("/element/{el}/click"), json!({}))
            .await?;
        Ok(())
    }

    /// Runs `js` (a function body: `return …`) in the page and returns its
    /// value.
    pub async fn script(&self, js: &str) -> Result<Value> {
        self.post("/execute/sync", json!({ "script": js, "args": [] }))
            .await
    }

    /// Presses `keys` one after another on whatever has the focus, as a
    /// person at the keyboard would (WebDriver actions: nothing is focused
    /// for them): characters, or WebDriver's key codes ([`TAB`], [`ENTER`]).
    pub async fn keys(&self, keys: &str) -> Result<()> {
        let mut acts = Vec::new();
        for c in keys.chars() {
            acts.push(json!({"type": "keyDown", "value": c.to_string()}));
            acts.push(json!({"type": "keyUp", "value": c.to_string()}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": acts}]}),
        )
        .await?;
        Ok(())
    }

    /// The focused element's `id` (or, without one, its tag and `type`).
    pub async fn focused(&self) -> Result<String> {
        let v = self
            .script(
                "const e = document.activeElement; \
                 return e ? (e.id || (e.tagName.toLowerCase() + ':' + (e.getAttribute('type') || ''))) : '';",
            )
            .await?;
        Ok(v.as_str().unwrap_or("").to_owned())
    }

    /// A PNG of the window, written to `path`.
    pub async fn screenshot(&self, path: &Path) -> Result<()> {
        use base64::Engine as _;
        let v = self.get("/screenshot").await?;
        let png =
            base64::engine::general_purpose::STANDARD.decode(v.as_str().context("base64 PNG")?)?;
        ensure!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Closes the window.
    pub async fn quit(self) -> Result<()> {
        call(&self.http, reqwest::Method::DELETE, &self.url, None).await?;
        Ok(())
    }
}
