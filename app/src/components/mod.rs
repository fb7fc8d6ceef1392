//! Reusable view pieces: icons, the status pill, stat cards and empty states.

pub mod card;
pub mod empty_state;
pub mod icons;
pub mod status_pill;
pub mod table;

use leptos::prelude::ServerFnError;

/// The message of a server function's error as a person should read it, without the
/// framework's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(message) => message.clone(),
        other => other.to_string(),
    }
}
