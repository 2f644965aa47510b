//! The PostgreSQL test harness (`tests/support/postgres.rs`): its cluster starts, gives out
//! distinct databases, and its URLs work with psql. Skipped when PostgreSQL is not installed.

#[path = "support/postgres.rs"]
mod postgres;

use std::thread;

#[test]
fn databases_are_distinct_and_usable() {
    let Some(cluster) = postgres::cluster() else {
        return;
    };
    // Taken concurrently, as parallel tests do.
    let urls: Vec<String> = thread::scope(|scope| {
        let takers: Vec<_> = (0..4).map(|_| scope.spawn(|| cluster.database())).collect();
        takers
            .into_iter()
            .map(|taker| taker.join().expect("database()"))
            .collect()
    });
    let mut unique = urls.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), urls.len(), "{urls:?}");

    let (one, other) = (&urls[0], &urls[1]);
    cluster.psql(one, "create table t(x int); insert into t values (1), (2)");
    assert_eq!(cluster.psql(one, "select sum(x) from t"), "3");
    assert_eq!(cluster.psql(other, "select to_regclass('t') is null"), "t");
    assert_eq!(
        cluster.psql(
            other,
            "select count(*) from pg_tables where schemaname = 'public'"
        ),
        "0"
    );
    // The other database is usable too, and its own.
    cluster.psql(other, "create table t(y text)");
    assert_eq!(cluster.psql(other, "select count(*) from t"), "0");
    assert_eq!(cluster.psql(one, "select count(*) from t"), "2");
}

#[test]
fn the_url_works_with_psql() {
    let Some(cluster) = postgres::cluster() else {
        return;
    };
    let url = cluster.database();
    let database = url.rsplit('/').next().expect("a database in the URL");
    assert!(database.starts_with("test_"), "{url}");
    assert_eq!(cluster.psql(&url, "select 1"), "1");
    assert_eq!(
        cluster.psql(&url, "select current_database() || ' ' || current_user"),
        format!("{database} {}", cluster.superuser())
    );
    // Over the socket in the cluster's directory, not TCP.
    assert!(cluster.socket_dir().join(".s.PGSQL.5432").exists());
    assert_eq!(cluster.psql(&url, "select inet_server_addr() is null"), "t");
    assert_eq!(
        cluster.psql(&url, "select setting from pg_settings where name = 'fsync'"),
        "off"
    );
}
