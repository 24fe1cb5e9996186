//! The 2020 Bayingol demo end to end: eleven real nodes over mutual TLS
//! replay seed 002, the region's API reproduces every figure of DOMAIN.md,
//! the region's public pages show what the tree published (两个一律) to
//! anyone, and a second start on the same directory records nothing twice.

use std::time::Duration;

use anyhow::{ensure, Context as _, Result};
use fundsync_demo::run::{self, Demo, DemoOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_region_reproduces_seed_002_and_a_restart_duplicates_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = DemoOptions {
        dir: dir.path().to_owned(),
        port_base: 0,
        host: "127.0.0.1".into(),
    };
    let demo = Demo::start(&opts).await?;
    ensure!(demo.nodes.len() == 11, "{} nodes", demo.nodes.len());
    let first = demo.replay().await?;
    ensure!(first > 100, "only {first} entries recorded");
    demo.converged(Duration::from_secs(60)).await?;
    let accounts = demo.create_accounts(dir.path()).await?;
    let listed = run::read_accounts(&accounts)?;
    ensure!(
        listed.len() == 11 * 7,
        "{} demo accounts, not one per role at each of 11 nodes",
        listed.len()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&accounts)?.permissions().mode() & 0o777;
        ensure!(mode == 0o600, "accounts file mode {mode:o}");
    }
    let written = std::fs::read_to_string(&accounts)?;
    let token = demo.auditor_token().await?;
    let base = run::region_api(&demo).context("region")?;
    let rows = run::check(&base, Some(&token)).await?;
    let wrong: Vec<_> = rows.iter().filter(|r| !r.ok()).collect();
    ensure!(
        rows.len() > 90 && wrong.is_empty(),
        "figures differ: {wrong:#?}"
    );
    for must in [
        "107941", "104041", "3900", "23984", "10057", "70000", "1510", "3850", "16160",
    ] {
        ensure!(
            rows.iter().any(|r| run::wan(r.expected) == must),
            "no figure {must} in the check"
        );
    }
    // Seed 002 一, 2016–2020, in the ledger and in the generated report;
    // 2017's rows name the seed's "3100 元" typo.
    for report in [false, true] {
        let own: Vec<_> = rows
            .iter()
            .filter(|r| r.report == report && r.label_zh.contains("自治州本级预算安排"))
            .collect();
        ensure!(
            own.len() == 6 && own.iter().all(|r| r.ok()),
            "the own budgets 2016–2020 (report: {report}): {own:#?}"
        );
        ensure!(
            own.iter()
                .any(|r| run::wan(r.expected) == "3100" && r.label_zh.contains("“3100 元”")),
            "2017's row does not name the seed's typo: {own:#?}"
        );
    }
    let printed: rust_decimal::Decimal = "1441.16".parse()?;
    let carry: Vec<_> = rows
        .iter()
        .filter(|r| r.seed_wan == Some(printed) && !r.report)
        .collect();
    ensure!(
        carry.len() == 1 && carry[0].ok(),
        "carry-over 1441.16: {carry:?}"
    );
    // The generated self-evaluation report against the seed: 二's seven
    // batches (with their 5-day flags) and 四(一)'s 1441.16 among them.
    let report: Vec<_> = rows.iter().filter(|r| r.report).collect();
    ensure!(
        report.len() > 20 && report.iter().all(|r| r.ok()),
        "{report:#?}"
    );
    ensure!(
        report
            .iter()
            .any(|r| r.seed_wan == Some(printed) && r.label_zh.contains("种子印 1441.16")),
        "the report's 1441.16 row does not name the seed's figure"
    );
    // The public pages against the ledger: the region's and the
    // prefecture's allocation results, two figures per county.
    let public: Vec<_> = rows.iter().filter(|r| r.public).collect();
    ensure!(public.len() == 2 + 9 * 2, "{} public figures", public.len());
    for must in ["104041", "107941"] {
        ensure!(
            public.iter().any(|r| run::wan(r.actual) == must && r.ok()),
            "the public pages do not show {must} 万元 of allocation results"
        );
    }
    ensure!(
        public
            .iter()
            .all(|r| r.actual > rust_decimal::Decimal::ZERO),
        "a public figure is zero: {public:#?}"
    );
    public_pages_list_the_results(&demo).await?;
    reconstructed_years_raise_no_warning(&demo).await?;
    demo.stop().await;

    // Resumed on the same directory: enrolment kept, every step found.
    let demo = Demo::start(&opts).await?;
    let again = demo.replay().await?;
    ensure!(again == 0, "a restart recorded {again} entries again");
    demo.converged(Duration::from_secs(60)).await?;
    ensure!(
        demo.create_accounts(dir.path()).await? == accounts
            && std::fs::read_to_string(&accounts)? == written,
        "a second run changed the demo's accounts"
    );
    let rows = run::check(&run::region_api(&demo).context("region")?, Some(&token)).await?;
    ensure!(
        rows.iter().all(run::CheckRow::ok),
        "figures changed after a restart"
    );
    demo.stop().await;
    Ok(())
}

/// Anyone, without signing in, finds the allocation results of the region
/// and the prefecture on the region's public page, and the counties'
/// projects; the JSON twin lists every allocation issued down the tree.
async fn public_pages_list_the_results(demo: &Demo) -> Result<()> {
    let url = run::public_url(demo).context("region")?;
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = anonymous
        .get(format!("{url}/allocations?page_size=1000"))
        .send()
        .await?;
    ensure!(
        page.status() == 200,
        "/public/allocations: {}",
        page.status()
    );
    let html = page.text().await?;
    for must in [
        // The region's first notice, and one of its documents.
        "新财农〔2019〕公示1号",
        "新财农〔2020〕47号",
        // The prefecture's, with a county it issued to.
        "巴财农〔2020〕公示1号",
        "巴财农〔2020〕36号",
        "若羌县",
    ] {
        ensure!(html.contains(must), "/public/allocations lacks {must}");
    }
    let projects = anonymous
        .get(format!("{url}/projects?page_size=1000"))
        .send()
        .await?;
    ensure!(
        projects.status() == 200,
        "/public/projects: {}",
        projects.status()
    );
    let html = projects.text().await?;
    ensure!(
        html.contains("轮财农〔2020〕公示3号") && html.contains("阿克萨来乡"),
        "/public/projects lacks 轮台县's results notice"
    );
    let api = run::region_api(demo).context("region")?;
    let json: serde_json::Value = anonymous
        .get(format!("{api}/public/allocations?page_size=1000"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let items = json["items"].as_array().context("items")?;
    let by = |node: &str| items.iter().filter(|a| a["publisher"] == node).count();
    // The 9 allocations the region issued; the 76 the prefecture issued.
    ensure!(
        by("650000") == 9 && by("652800") == 76,
        "published: region {}, prefecture {}",
        by("650000"),
        by("652800")
    );
    Ok(())
}

/// Seed 002 一's years before 2020, reconstructed at the prefecture (each
/// year's own budget spent within it through one summary project), leave
/// nothing for the rules: evaluated as of the demo's last day, no open
/// warning of the prefecture names their budgets or projects (no idle
/// funds, slow spending, missing target or deviation).
async fn reconstructed_years_raise_no_warning(demo: &Demo) -> Result<()> {
    use fundsync_node::ledger::query::{Page, WarningFilter};
    use fundsync_node::warnings::evaluate::Evaluator;
    let code: fundsync_protocol::NodeCode = "652800".parse()?;
    let pref = demo.nodes.get(&code).context("the prefecture")?;
    let mut ev = Evaluator::new(pref.ledger.clone(), pref.cfg.warnings.clone());
    while ev.evaluate().await?.more {}
    let open = pref
        .ledger
        .warnings(
            &WarningFilter {
                origin: Some(code),
                open: Some(true),
                ..WarningFilter::default()
            },
            Page {
                page: 1,
                page_size: 1000,
            },
        )
        .await?;
    let history = [
        "巴财预〔2016〕",
        "巴财预〔2017〕",
        "巴财预〔2018〕",
        "巴财预〔2019〕",
        "ZBJ201",
    ];
    let about: Vec<_> = open
        .items
        .iter()
        .filter(|w| {
            let text = format!("{} {} {:?}", w.subject, w.message, w.stored_params);
            history.iter().any(|h| text.contains(h))
        })
        .collect();
    ensure!(
        about.is_empty(),
        "warnings about the reconstructed years: {about:#?}"
    );
    Ok(())
}
