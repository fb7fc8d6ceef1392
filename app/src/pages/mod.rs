//! One module per route. Each page module holds the server functions it calls.

pub mod account;
pub mod admin;
pub mod experiments;
pub mod files;
pub mod login;
pub mod logs;
pub mod models;
pub mod monitoring;
pub mod not_found;
pub mod overview;
pub mod pipelines;
pub mod services;
