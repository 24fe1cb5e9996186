//! Proves the PostgreSQL test harness works: each `TestDb` is its own, usable database.

use fundsync_tests::pg::TestDb;

#[tokio::test]
async fn each_test_db_is_a_separate_working_database() -> anyhow::Result<()> {
    let a = TestDb::create().await?;
    let b = TestDb::create().await?;
    assert_ne!(a.name(), b.name());
    assert_ne!(a.url, b.url);

    let pool_a = a.pool().await?;
    let pool_b = b.pool().await?;

    for (db, pool) in [(&a, &pool_a), (&b, &pool_b)] {
        let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(pool).await?;
        assert_eq!(one, 1);
        let current: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(pool)
            .await?;
        assert_eq!(current, db.name());
    }

    // A table made in one database must not be visible from the other.
    sqlx::query("CREATE TABLE only_in_a (x int)")
        .execute(&pool_a)
        .await?;
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&pool_b)
        .await?;
    assert_eq!(in_b, None);

    pool_a.close().await;
    pool_b.close().await;
    a.drop_db().await?;
    b.drop_db().await?;
    Ok(())
}
