//! The queries both backends run, written once. Each backend module supplies its tables
//! (`customers`, `schema::login_failures`), its `CustomerRow`, and these few functions that
//! differ by database, then invokes [`store_queries!`]:
//!
//! - `row_id(CustomerId)` and `client_value(ClientNetwork)`: the column values of its native
//!   types;
//! - `lock_attempts(conn, window)`: serialises the admission of login attempts for one email
//!   or client inside a write transaction;
//! - `search(pattern)`: the case-insensitive `LIKE` of name or email;
//! - `find_row(conn, id, lock)`: one customer, locked for the transaction when `lock` is set;
//! - `write_transaction(conn, work)`: a transaction that serialises writers of a row.

/// Implements [`super::Store`] for `$store` on Diesel backend `$backend`.
macro_rules! store_queries {
    ($store:ty, $backend:ty) => {
        /// The customers matching `filter`, as a query to refine.
        fn filtered(filter: &CustomerFilter) -> customers::BoxedQuery<'_, $backend> {
            use self::customers::dsl::*;
            let mut query = customers.into_boxed();
            if let Some(term) = &filter.search {
                query = query.filter(search(contains_pattern(term)));
            }
            if let Some(wanted) = &filter.email {
                query = query.filter(lower(email).eq(lower(wanted)));
            }
            if let Some(after) = filter.created_after {
                query = query.filter(created_at.gt(after));
            }
            if let Some(before) = filter.created_before {
                query = query.filter(created_at.lt(before));
            }
            query
        }

        impl Store for $store {
            fn pool_state(&self) -> PoolState {
                self.pool.state()
            }

            fn ping(&self) -> Result<(), AppError> {
                self.pool.run(|conn| {
                    diesel::sql_query("SELECT 1").execute(conn)?;
                    Ok(())
                })
            }

            fn insert_customer(&self, customer: &CustomerRecord) -> Result<(), AppError> {
                self.pool.run(|conn| {
                    diesel::insert_into(customers::table)
                        .values(CustomerRow::try_from(customer)?)
                        .execute(conn)?;
                    Ok(())
                })
            }

            fn find_customer(&self, id: CustomerId) -> Result<Option<CustomerRecord>, AppError> {
                self.pool.run(|conn| find_row(conn, id, false))
            }

            fn list_customers(
                &self,
                filter: &CustomerFilter,
                after: Option<&Position>,
                limit: usize,
            ) -> Result<Vec<CustomerRecord>, AppError> {
                self.pool.run(|conn| {
                    use self::customers::dsl::*;
                    let mut query = filtered(filter);
                    if let Some(after) = after {
                        // (created_at, id) < (after.created_at, after.id), written so that the
                        // first condition bounds the index scan.
                        query = query.filter(
                            created_at
                                .le(after.created_at)
                                .and(created_at.lt(after.created_at).or(id.lt(row_id(after.id)))),
                        );
                    }
                    query
                        .order((created_at.desc(), id.desc()))
                        .limit(i64::try_from(limit).map_err(AppError::internal)?)
                        .select(CustomerRow::as_select())
                        .load(conn)?
                        .into_iter()
                        .map(CustomerRecord::try_from)
                        .collect()
                })
            }

            fn count_customers(&self, filter: &CustomerFilter) -> Result<i64, AppError> {
                self.pool
                    .run(|conn| Ok(filtered(filter).count().get_result(conn)?))
            }

            fn find_customer_by_email(
                &self,
                email: &str,
            ) -> Result<Option<CustomerRecord>, AppError> {
                self.pool.run(|conn| {
                    customers::table
                        .filter(lower(customers::email).eq(lower(email)))
                        .select(CustomerRow::as_select())
                        .first(conn)
                        .optional()?
                        .map(CustomerRecord::try_from)
                        .transpose()
                })
            }

            fn update_customer(
                &self,
                id: CustomerId,
                decide: UpdateDecision<'_>,
            ) -> Result<CustomerRecord, AppError> {
                self.pool.run(|conn| {
                    write_transaction(conn, |conn| {
                        let current = find_row(conn, id, true)?.ok_or(AppError::NotFound)?;
                        let Some(next) = decide(&current)? else {
                            return Ok(current);
                        };
                        diesel::update(customers::table.find(row_id(id)))
                            .set(CustomerRow::try_from(&next)?)
                            .execute(conn)?;
                        Ok(next)
                    })
                })
            }

            fn delete_customer(
                &self,
                id: CustomerId,
                check: &dyn Fn(&CustomerRecord) -> Result<(), AppError>,
            ) -> Result<(), AppError> {
                self.pool.run(|conn| {
                    write_transaction(conn, |conn| {
                        let current = find_row(conn, id, true)?.ok_or(AppError::NotFound)?;
                        check(&current)?;
                        diesel::delete(customers::table.find(row_id(id))).execute(conn)?;
                        Ok(())
                    })
                })
            }

            fn admit_login_attempt(
                &self,
                window: &AttemptWindow<'_>,
            ) -> Result<Admission, AppError> {
                self.pool.run(|conn| {
                    write_transaction(conn, |conn| {
                        use schema::login_failures::dsl::*;
                        lock_attempts(conn, window)?;
                        diesel::delete(login_failures.filter(failed_at.lt(window.since)))
                            .execute(conn)?;
                        let for_email = login_failures
                            .filter(email_key.eq(window.email_key))
                            .filter(failed_at.gt(window.since))
                            .order(failed_at.desc())
                            .limit(window.email_limit)
                            .select(failed_at)
                            .load(conn)?;
                        let for_client = match window.client {
                            Some(client) => login_failures
                                .filter(client_addr.eq(client_value(client)))
                                .filter(failed_at.gt(window.since))
                                .order(failed_at.desc())
                                .limit(window.client_limit)
                                .select(failed_at)
                                .load(conn)?,
                            None => Vec::new(),
                        };
                        let recent = RecentFailures {
                            for_email,
                            for_client,
                        };
                        if window.is_full(&recent) {
                            return Ok(Admission::Refused(recent));
                        }
                        let attempt = diesel::insert_into(login_failures)
                            .values((
                                email_key.eq(window.email_key),
                                client_addr.eq(window.client.map(client_value)),
                                failed_at.eq(window.at),
                            ))
                            .returning(id)
                            .get_result(conn)?;
                        Ok(Admission::Admitted(AttemptId(attempt)))
                    })
                })
            }

            fn forget_login_attempt(&self, attempt: AttemptId) -> Result<(), AppError> {
                self.pool.run(|conn| {
                    use schema::login_failures::dsl::*;
                    diesel::delete(login_failures.find(attempt.0)).execute(conn)?;
                    Ok(())
                })
            }
        }
    };
}

pub(super) use store_queries;
