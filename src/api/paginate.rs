//! The cursor state machine of one unit: `Start` → `More(cursor)` → `Done`, with the guards
//! against endless lists (the same cursor twice in a row, more than `max_pages` pages).
//!
//! It knows nothing of HTTP; the unit loop asks it which cursor to send and tells it what came back.

/// A cursor sequence that cannot be trusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaginateError {
    /// The API returned the cursor it was just sent: the list would never end.
    #[error(
        "page {page} returned the same cursor {cursor:?} as the request; the list would never end"
    )]
    SameCursor {
        /// 0-based page number.
        page: u64,
        /// The cursor.
        cursor: String,
    },
    /// More than `fetch.max_pages` pages.
    #[error(
        "more than fetch.max_pages = {max_pages} pages; raise it if the list is really that long"
    )]
    TooManyPages {
        /// The limit.
        max_pages: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Start,
    More(String),
    Done,
}

/// Where a unit is in its list.
#[derive(Debug)]
pub struct Paginator {
    state: State,
    pages: u64,
    max_pages: u64,
}

impl Paginator {
    /// A fresh list, allowed at most `max_pages` pages.
    pub fn new(max_pages: u64) -> Paginator {
        Paginator {
            state: State::Start,
            pages: 0,
            max_pages,
        }
    }

    /// A list continued from a checkpoint: `pages` pages were received before, and `cursor`
    /// asks for the next one.
    pub fn resume(max_pages: u64, cursor: String, pages: u64) -> Paginator {
        Paginator {
            state: State::More(cursor),
            pages,
            max_pages,
        }
    }

    /// The next request's cursor: `Some(None)` for the first page, `Some(Some(c))` after, `None`
    /// when the list is complete.
    pub fn next_request(&self) -> Option<Option<&str>> {
        match &self.state {
            State::Start => Some(None),
            State::More(c) => Some(Some(c)),
            State::Done => None,
        }
    }

    /// Pages received so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Records a received page's cursor. An empty page with a cursor is normal: go on.
    pub fn advance(&mut self, cursor: Option<String>) -> Result<(), PaginateError> {
        let page = self.pages;
        self.pages += 1;
        self.state = match cursor {
            None => State::Done,
            Some(c) => {
                if self.state == State::More(c.clone()) {
                    return Err(PaginateError::SameCursor { page, cursor: c });
                }
                if self.pages >= self.max_pages {
                    return Err(PaginateError::TooManyPages {
                        max_pages: self.max_pages,
                    });
                }
                State::More(c)
            }
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Start, two cursors, then null: three pages and done.
    #[test]
    fn walks_to_the_end() {
        let mut p = Paginator::new(10);
        assert_eq!(p.next_request(), Some(None));
        p.advance(Some("a".into())).expect("ok");
        assert_eq!(p.next_request(), Some(Some("a")));
        p.advance(Some("b".into())).expect("ok");
        p.advance(None).expect("ok");
        assert_eq!(p.next_request(), None);
        assert_eq!(p.pages(), 3);
    }

    /// The same cursor back fails the unit.
    #[test]
    fn same_cursor_twice_fails() {
        let mut p = Paginator::new(10);
        p.advance(Some("a".into())).expect("ok");
        assert_eq!(
            p.advance(Some("a".into())),
            Err(PaginateError::SameCursor {
                page: 1,
                cursor: "a".into()
            })
        );
    }

    /// A resumed list asks for its saved cursor, counts on from the pages received before,
    /// and keeps both guards.
    #[test]
    fn resumes_from_a_cursor() {
        let mut p = Paginator::resume(5, "c3".into(), 3);
        assert_eq!(p.next_request(), Some(Some("c3")));
        assert_eq!(
            p.advance(Some("c3".into())),
            Err(PaginateError::SameCursor {
                page: 3,
                cursor: "c3".into()
            })
        );
        let mut p = Paginator::resume(5, "c3".into(), 3);
        p.advance(Some("c4".into())).expect("page 4 of 5");
        assert_eq!(p.pages(), 4);
        assert_eq!(
            p.advance(Some("c5".into())),
            Err(PaginateError::TooManyPages { max_pages: 5 })
        );
    }

    /// A list longer than max_pages fails; exactly max_pages pages is fine.
    #[test]
    fn max_pages_guard() {
        let mut p = Paginator::new(2);
        p.advance(Some("a".into())).expect("ok");
        p.advance(None)
            .expect("the second and last page is allowed");
        let mut p = Paginator::new(2);
        p.advance(Some("a".into())).expect("ok");
        assert_eq!(
            p.advance(Some("b".into())),
            Err(PaginateError::TooManyPages { max_pages: 2 })
        );
    }
}
