//! Statements whose text depends on the request (optional filters, pages),
//! built together with their arguments.
//!
//! Why not `sqlx::QueryBuilder<Any>`: it writes `?` for every bound value,
//! because the `Any` driver's arguments do not know the engine when the
//! text is built (sqlx issue #3000), and PostgreSQL refuses `?`. [`Sql`] is
//! the same idea with the placeholder chosen as ARCHITECTURE.md says: `$N`
//! by default (both engines accept it), anonymous `?` only where a dialect
//! asks for it in bulk statements ([`Sql::for_bulk`]).

use std::fmt::Write;

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs, QueryScalar};
use sqlx::{Any, Arguments, Encode, Type};

use super::Dialect;

/// A statement being built: its text and its bound values, in step.
pub struct Sql<'a> {
    text: String,
    args: AnyArguments<'a>,
    /// The first value that failed to encode; executing the statement
    /// then fails with it.
    failed: Option<sqlx::error::BoxDynError>,
    numbered: bool,
    /// Whether [`Sql::and_where`] has written its ` WHERE` yet.
    filtered: bool,
}

impl std::fmt::Debug for Sql<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sql")
            .field("text", &self.text)
            .field("args", &self.args.len())
            .finish()
    }
}

impl<'a> Sql<'a> {
    /// A statement starting with `text`, with numbered placeholders.
    pub fn new(text: &str) -> Sql<'a> {
        Sql {
            text: text.to_owned(),
            args: AnyArguments::default(),
            failed: None,
            numbered: true,
            filtered: false,
        }
    }

    /// A bulk statement, in the placeholder style `d` wants for it.
    pub fn for_bulk(d: &dyn Dialect, text: &str) -> Sql<'a> {
        Sql {
            numbered: d.numbered_placeholders(),
            ..Sql::new(text)
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder and binds `value` to it.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert(e);
        }
        if self.numbered {
            // Writing to a String cannot fail.
            let _ = write!(self.text, "${}", self.args.len());
        } else {
            self.text.push('?');
        }
        self
    }

    /// Appends ` WHERE ` the first time, ` AND ` after that; the condition
    /// follows.
    pub fn and_where(&mut self) -> &mut Self {
        self.text
            .push_str(if self.filtered { " AND " } else { " WHERE " });
        self.filtered = true;
        self
    }

    /// `col = value` when `value` is given.
    pub fn filter_eq<T>(&mut self, col: &str, value: Option<T>) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.filter(col, " = ", value)
    }

    /// `col <= value` when `value` is given.
    pub fn filter_le<T>(&mut self, col: &str, value: Option<T>) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        self.filter(col, " <= ", value)
    }

    /// `col IN (values…)` when `values` is given (none: matches nothing).
    pub fn filter_in(&mut self, col: &str, values: Option<Vec<String>>) -> &mut Self {
        if let Some(v) = values {
            self.and_where().in_list(col, v);
        }
        self
    }

    /// `col IN (values…)`, or a false condition for no values, with no
    /// `WHERE`/`AND` before it (for a sub-query's own condition).
    pub fn in_list(&mut self, col: &str, values: Vec<String>) -> &mut Self {
        if values.is_empty() {
            return self.push("1 = 0");
        }
        self.push(col).push(" IN (");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }

    fn filter<T>(&mut self, col: &str, op: &str, value: Option<T>) -> &mut Self
    where
        T: 'a + Encode<'a, Any> + Type<Any>,
    {
        if let Some(v) = value {
            self.and_where().push(col).push(op).bind(v);
        }
        self
    }

    /// The text so far.
    pub fn sql(&self) -> &str {
        &self.text
    }

    /// The arguments, or the first value that failed to encode (the `Any`
    /// driver's values only record what they hold, so no type it accepts
    /// fails today).
    fn take_args(&mut self) -> Result<AnyArguments<'a>, sqlx::Error> {
        let args = std::mem::take(&mut self.args);
        match self.failed.take() {
            Some(e) => Err(sqlx::Error::Encode(e)),
            None => Ok(args),
        }
    }

    /// The statement, to execute. Takes the arguments: build anew after.
    pub fn query(&mut self) -> Result<Query<'_, Any, AnyArguments<'_>>, sqlx::Error> {
        let args = self.take_args()?;
        Ok(sqlx::query_with(&self.text, args))
    }

    /// The statement, reading rows into `T` by column name.
    pub fn query_as<T>(&mut self) -> Result<QueryAs<'_, Any, T, AnyArguments<'_>>, sqlx::Error>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let args = self.take_args()?;
        Ok(sqlx::query_as_with(&self.text, args))
    }

    /// The statement, reading the first column of each row.
    pub fn query_scalar<T>(
        &mut self,
    ) -> Result<QueryScalar<'_, Any, T, AnyArguments<'_>>, sqlx::Error>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        let args = self.take_args()?;
        Ok(sqlx::query_scalar_with(&self.text, args))
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn filters_number_their_placeholders() {
        let mut s = Sql::new("SELECT a FROM t");
        s.filter_eq("a", Some("x".to_owned()))
            .filter_eq("b", None::<String>)
            .filter_le("c", Some(3i64))
            .push(" LIMIT ")
            .bind(10i64);
        assert_eq!(s.sql(), "SELECT a FROM t WHERE a = $1 AND c <= $2 LIMIT $3");
    }

    #[test]
    fn bulk_statements_follow_the_dialect() {
        let mut s = Sql::for_bulk(&crate::store::sqlite::Sqlite, "VALUES (");
        s.bind(1i64).push(",").bind(2i64).push(")");
        assert_eq!(s.sql(), "VALUES (?,?)");
        let mut s = Sql::for_bulk(&crate::store::postgres::Postgres, "VALUES (");
        s.bind(1i64).push(",").bind(2i64).push(")");
        assert_eq!(s.sql(), "VALUES ($1,$2)");
    }
}
