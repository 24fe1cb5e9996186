//! `on_both!`: one scenario, a test on each engine.

/// Makes a SQLite and a PostgreSQL test of each scenario `async fn
/// name(engine: Engine) -> anyhow::Result<()>` in scope: a module `name`
/// with the tests `sqlite` and `postgres` (filter with `name::postgres`).
/// `workers = N;` first sets the runtime's worker threads (2 otherwise).
#[macro_export]
macro_rules! on_both {
    (workers = $w:literal; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = $w)]
            async fn sqlite() -> anyhow::Result<()> {
                super::$name($crate::fixtures::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = $w)]
            async fn postgres() -> anyhow::Result<()> {
                super::$name($crate::fixtures::Engine::Postgres).await
            }
        }
    )*};
    ($($name:ident),* $(,)?) => {
        $crate::on_both!(workers = 2; $($name),*);
    };
}
