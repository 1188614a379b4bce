//! Sessions: cookies, the login transaction, the session record and its table.

mod check;
pub mod cookies;
mod record;
mod store;
mod sync;
mod transaction;

pub use check::{
    authenticate, authenticate_with, end_session, Refresh, SessionError, SignedIn, Unavailable,
    MAX_WAIT_FOR_ROTATION,
};
pub use record::{new_session_id, session_handle, session_key, SessionRecord};
pub use store::{
    Hint, Hinted, RotationOutcome, SessionStore, StoreError, ORGANIZATION_INDEX,
    SCALEKIT_SESSION_INDEX, USER_INDEX,
};
pub use sync::{
    end_sessions, end_sessions_once, session_of, sessions_of, Ending, MARKER_LEASE_SECS,
};
pub use transaction::{
    is_transaction_cookie_name, transaction_cookie_name, transactions_to_evict, Transaction,
    TransactionError, MAX_LIVE_TRANSACTIONS,
};
