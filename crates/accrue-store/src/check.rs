//! The ledger's invariants, checked on the whole database (`accrue check`).

use crate::{Store, StoreError};
use sqlx::Executor;
use sqlx::Row;

/// One invariant and the rows that break it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: &'static str,
    pub examples: Vec<String>,
}

const CHECKS: &[(&str, &str)] = &[
    (
        "every posting's entries sum to zero per currency",
        "SELECT 'posting ' || CAST(posting_id AS TEXT) || ' currency ' || CAST(currency_id AS TEXT) \
         || ' sums to ' || CAST(SUM(amount) AS TEXT) FROM entries GROUP BY posting_id, currency_id HAVING SUM(amount) <> 0",
    ),
    (
        // PostgreSQL does not check these references as rows are written (migration 0029).
        "every entry, lot and lot move belongs to a posting",
        "SELECT 'entry ' || CAST(e.id AS TEXT) FROM entries e \
         WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.id = e.posting_id) \
         UNION ALL SELECT 'lot ' || CAST(l.id AS TEXT) FROM lots l \
         WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.id = l.posting_id) \
         UNION ALL SELECT 'move of lot ' || CAST(m.lot_id AS TEXT) || ' by posting ' || CAST(m.posting_id AS TEXT) \
         FROM lot_moves m WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.id = m.posting_id)",
    ),
    (
        // PostgreSQL does not check these references as rows are written (migration 0034).
        "every entry, lot move, hold and purchase record refers to rows that exist",
        "SELECT 'entry ' || CAST(e.id AS TEXT) || ': account ' || CAST(e.account_id AS TEXT) FROM entries e \
         WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.id = e.account_id) \
         UNION ALL SELECT 'move of lot ' || CAST(m.lot_id AS TEXT) || ' by posting ' || CAST(m.posting_id AS TEXT) \
         FROM lot_moves m WHERE NOT EXISTS (SELECT 1 FROM lots l WHERE l.id = m.lot_id) \
         UNION ALL SELECT 'hold ' || CAST(h.id AS TEXT) || ': member ' || CAST(h.member_id AS TEXT) FROM holds h \
         WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.id = h.member_id) \
         UNION ALL SELECT 'purchase ' || CAST(p.id AS TEXT) || ': member ' || CAST(p.member_id AS TEXT) \
         FROM purchases p WHERE p.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members x WHERE x.id = p.member_id) \
         UNION ALL SELECT 'purchase operation ' || CAST(o.id AS TEXT) FROM purchase_operations o \
         WHERE (o.member_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM members x WHERE x.id = o.member_id)) \
         OR (o.hold_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM holds h WHERE h.id = o.hold_id)) \
         UNION ALL SELECT 'offer usage of purchase ' || CAST(u.purchase_id AS TEXT) FROM offer_usage u \
         WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.id = u.member_id) \
         OR NOT EXISTS (SELECT 1 FROM purchases p WHERE p.id = u.purchase_id) \
         UNION ALL SELECT 'purchase entry ' || CAST(r.id AS TEXT) FROM purchase_entries r \
         WHERE NOT EXISTS (SELECT 1 FROM members x WHERE x.id = r.member_id) \
         OR NOT EXISTS (SELECT 1 FROM purchases p WHERE p.id = r.purchase_id) \
         UNION ALL SELECT 'purchase posting ' || CAST(k.posting_id AS TEXT) FROM purchase_postings k \
         WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.id = k.posting_id) \
         OR NOT EXISTS (SELECT 1 FROM purchase_entries r WHERE r.id = k.entry_id)",
    ),
    (
        "every posting has at least two entries",
        "SELECT 'posting ' || CAST(p.id AS TEXT) FROM postings p LEFT JOIN entries e ON e.posting_id = p.id \
         GROUP BY p.id HAVING COUNT(e.id) < 2",
    ),
    (
        "every cached balance equals the sum of its account's entries",
        "SELECT 'account ' || CAST(a.id AS TEXT) || ': cached ' || CAST(COALESCE(b.total, 0) AS TEXT) \
         || ', entries ' || CAST(COALESCE(e.total, 0) AS TEXT) FROM accounts a \
         LEFT JOIN (SELECT account_id, SUM(balance) AS total FROM balances GROUP BY account_id) b ON b.account_id = a.id \
         LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM entries GROUP BY account_id) e ON e.account_id = a.id \
         WHERE COALESCE(b.total, 0) <> COALESCE(e.total, 0)",
    ),
    (
        "no member balance is negative",
        "SELECT 'account ' || CAST(b.account_id AS TEXT) || ' has ' || CAST(b.balance AS TEXT) FROM balances b \
         JOIN accounts a ON a.id = b.account_id WHERE a.kind = 'wallet' AND b.balance < 0",
    ),
    (
        "every wallet's balance equals what its lots hold",
        "SELECT 'account ' || CAST(a.id AS TEXT) || ': balance ' || CAST(COALESCE(b.balance, 0) AS TEXT) \
         || ', lots ' || CAST(COALESCE(l.total, 0) AS TEXT) FROM accounts a \
         LEFT JOIN balances b ON b.account_id = a.id AND b.shard = 0 \
         LEFT JOIN (SELECT account_id, SUM(remaining) AS total FROM lots GROUP BY account_id) l ON l.account_id = a.id \
         WHERE a.kind = 'wallet' AND COALESCE(b.balance, 0) <> COALESCE(l.total, 0)",
    ),
    (
        "no lot holds more than it was given or less than nothing",
        "SELECT 'lot ' || CAST(id AS TEXT) FROM lots WHERE remaining < 0 OR remaining > amount",
    ),
    (
        "the holding account of each currency equals its open holds",
        "SELECT 'currency ' || CAST(a.currency_id AS TEXT) || ': holding ' || CAST(COALESCE(b.total, 0) AS TEXT) \
         || ', open holds ' || CAST(COALESCE(h.total, 0) AS TEXT) FROM accounts a \
         LEFT JOIN (SELECT account_id, SUM(balance) AS total FROM balances GROUP BY account_id) b ON b.account_id = a.id \
         LEFT JOIN (SELECT currency_id, SUM(amount) AS total FROM holds WHERE state = 'active' GROUP BY currency_id) h \
         ON h.currency_id = a.currency_id WHERE a.kind = 'holding' AND COALESCE(b.total, 0) <> COALESCE(h.total, 0)",
    ),
    (
        "each hold is resolved at most once, and resolved holds have their posting",
        "SELECT 'hold ' || CAST(h.id AS TEXT) FROM holds h LEFT JOIN postings p ON p.hold_id = h.id \
         AND p.kind IN ('hold_capture', 'hold_void') GROUP BY h.id, h.state, h.resolve_posting_id, h.captured, h.amount \
         HAVING COUNT(p.id) > 1 OR (h.state = 'active') <> (COUNT(p.id) = 0) \
         OR (h.state <> 'active' AND h.resolve_posting_id IS NULL) OR h.captured > h.amount",
    ),
];

impl Store {
    /// Checks every invariant; an empty list means the ledger is sound. An invariant
    /// that cannot be checked (a sum that overflows, say) is reported as broken, with
    /// the reason, and the others are still checked.
    pub async fn check(&self) -> Result<Vec<Violation>, StoreError> {
        let mut violations = Vec::new();
        for (invariant, sql) in CHECKS {
            let examples: Result<Vec<String>, sqlx::Error> = sqlx::query(&format!("{sql} LIMIT 10"))
                .fetch_all(self.reads())
                .await
                .and_then(|rows| rows.iter().map(|r| r.try_get(0)).collect());
            let examples = match examples {
                Ok(examples) if examples.is_empty() => continue,
                Ok(examples) => examples,
                Err(e) => vec![format!("could not be checked: {e}")],
            };
            violations.push(Violation { invariant, examples });
        }
        Ok(violations)
    }

    /// Runs raw SQL. Only for tests that corrupt a database on purpose.
    #[doc(hidden)]
    pub async fn execute_unchecked(&self, sql: &str) -> Result<(), StoreError> {
        self.reads().execute(sql).await?;
        Ok(())
    }
}
