//! Canonical request paths. The access layer finds a request's rule by the route the router
//! matched, but the Leptos router in the page also renders paths that no route matched
//! (`/admin/users/`, `/admin/./users`), under the fallback's weaker rule. So every other
//! spelling of a path is first redirected (308, which keeps the method and body) to its one
//! canonical form, and only canonical paths reach the rules.

/// The canonical form of `path`, if it differs: percent-encoded unreserved characters decoded
/// (`%75` is `u`, RFC 3986 §6.2.2.2), `.` and `..` segments resolved, empty segments (`//`)
/// and a trailing `/` removed. `None` when `path` is canonical already.
pub fn canonical(path: &str) -> Option<String> {
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    // A backslash is a separator too: the page's router (the url crate) reads `/admin\users`
    // as `/admin/users`, so it must reach the same rule.
    for segment in decoded.split(['/', '\\']) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let canonical = format!("/{}", segments.join("/"));
    (canonical != path).then_some(canonical)
}

/// Decodes `%XX` only where it stands for a letter, digit, `-`, `.`, `_` or `~`: those mean
/// the same either way, while decoding `%2F` would change the path's meaning.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex.filter(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        // Bytes, not chars: a raw UTF-8 path (the http crate lets bytes past 0x7F through)
        // must come out as it went in, or its "canonical" form would differ forever.
        out.push(bytes[i]);
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII bytes, so the UTF-8 of `path` is intact.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn other_spellings_map_to_one_path() {
        for (spelling, expected) in [
            ("/admin/users/", "/admin/users"),
            ("/admin/./users", "/admin/users"),
            ("/admin//users", "/admin/users"),
            ("//admin/users", "/admin/users"),
            ("/admin/%2e/users", "/admin/users"),
            ("/admin/%2E%2E/admin/users", "/admin/users"),
            ("/admin/users/.", "/admin/users"),
            ("/x/../admin/users", "/admin/users"),
            ("/../../admin/users", "/admin/users"),
            ("/admin/%75sers", "/admin/users"),
            ("/admin\\users", "/admin/users"),
            ("\\admin\\users\\", "/admin/users"),
            ("//", "/"),
            ("/.", "/"),
        ] {
            assert_eq!(canonical(spelling).as_deref(), Some(expected), "{spelling}");
        }
    }

    #[test]
    fn canonical_paths_and_meaningful_escapes_are_left_alone() {
        for path in
            ["/", "/admin/users", "/pkg/okrflow.js", "/api/v1/files/abc/content", "/files/a%2Fb", "/a%20b", "/café"]
        {
            assert_eq!(canonical(path), None, "{path}");
        }
    }
}
