//! Reading cookies from a `Cookie` header, and the names okrflow uses.

/// The browser session (HttpOnly; set at login).
pub const SESSION: &str = "okrflow_session";
/// The sidebar's collapsed state (readable by the page).
pub const SIDEBAR: &str = "okrflow_sidebar";

/// The value of cookie `name` in a `Cookie` header, if present.
pub fn get<'a>(cookie_header: &'a str, name: &str) -> Option<&'a str> {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        assert_eq!(get("a=1; okrflow_sidebar=collapsed", SIDEBAR), Some("collapsed"));
        assert_eq!(get("xokrflow_sidebar=collapsed", SIDEBAR), None);
        assert_eq!(get("", SESSION), None);
        assert_eq!(get("okrflow_session=abc=def", SESSION), Some("abc=def"));
    }
}
