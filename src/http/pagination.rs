//! Keyset pagination: `?limit=` (1–200, default 50) and the opaque
//! `cursor` from the previous page's `next_cursor`.

use serde::Deserialize;
use uuid::Uuid;

use super::error::ApiError;
use crate::domain::fields::FieldErrors;

pub const DEFAULT_LIMIT: u32 = 50;
/// What a cursor looks like: empty, or an id as this API writes it.
pub const CURSOR_PATTERN: &str = "^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$";
pub const MAX_LIMIT: u32 = 200;

/// `?limit=` and `?cursor=` alone: a page of a list that has no filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Where a page starts and how long it is.
#[derive(Debug, Clone, Copy)]
pub struct Keyset {
    pub after: Option<Uuid>,
    pub limit: u32,
}

impl Keyset {
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Keyset, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(FieldErrors::single("limit", format!("must be between 1 and {MAX_LIMIT}")).into());
        }
        // An empty cursor is none (the first page); any other is an id in
        // the hyphenated form this API gives out.
        let after = match cursor.filter(|c| !c.is_empty()) {
            None => None,
            Some(cursor) => Some(
                Some(cursor)
                    .filter(|c| c.len() == 36)
                    .and_then(|c| Uuid::parse_str(c).ok())
                    .ok_or_else(|| FieldErrors::single("cursor", "is not a cursor this API gave out"))?,
            ),
        };
        Ok(Keyset { after, limit })
    }

    /// Rows to fetch: one more than the page, to know whether more follow.
    pub fn fetch_limit(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// Cuts the extra row and names the cursor of the next page.
    pub fn finish<T>(&self, mut rows: Vec<T>, id_of: impl Fn(&T) -> Uuid) -> (Vec<T>, Option<String>) {
        if rows.len() > self.limit as usize {
            rows.truncate(self.limit as usize);
            let next = rows.last().map(|row| id_of(row).to_string());
            (rows, next)
        } else {
            (rows, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert!(Keyset::parse(Some(0), None).is_err());
        assert!(Keyset::parse(Some(201), None).is_err());
        assert_eq!(Keyset::parse(None, None).unwrap().limit, DEFAULT_LIMIT);
        assert!(Keyset::parse(None, Some("not-a-cursor")).is_err());
    }

    #[test]
    fn a_full_page_names_the_next_cursor() {
        let keyset = Keyset::parse(Some(2), None).unwrap();
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let (rows, next) = keyset.finish(ids.clone(), |id| *id);
        assert_eq!(rows, ids[..2]);
        assert_eq!(next, Some(ids[1].to_string()));
        let (rows, next) = keyset.finish(ids[..2].to_vec(), |id| *id);
        assert_eq!(rows.len(), 2);
        assert_eq!(next, None);
    }
}
