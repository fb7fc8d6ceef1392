//! Files people bring (CSV, Excel, JSON, archives…). Started: which types are accepted and how
//! their content's signature is checked ([`kind`]), how an original name is kept ([`names`]),
//! and (with `runtime`) writing an upload to disk as it streams in ([`store`]). Still to come
//! with issue 4: the database records and duplicates by hash, the routes, background profiling
//! with polars and calamine, conversions, downloads and the page.
//!
//! Both modules are plain functions without `runtime`, so the browser can check a file's type
//! before uploading it with the same rules the server applies.

pub mod kind;
pub mod names;
#[cfg(feature = "runtime")]
pub mod store;

pub use kind::FileKind;
