//! Reusable view pieces: icons, the status pill, stat cards and empty states.

pub mod card;
pub mod empty_state;
pub mod icons;
pub mod status_pill;
