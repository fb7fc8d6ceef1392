//! Files people bring (CSV, Excel, JSON, archives…). Started: which types are accepted and how
//! their content's signature is checked ([`kind`]), and how an original name is kept ([`names`]).
//! Still to come with issue 4: streaming storage under server-chosen names, hashes and duplicates,
//! background profiling with polars and calamine, conversions, downloads.
//!
//! Both modules are plain functions without `runtime`, so the browser can check a file's type
//! before uploading it with the same rules the server applies.

pub mod kind;
pub mod names;

pub use kind::FileKind;
