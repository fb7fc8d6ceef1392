//! `{{ params.name }}` and `{{ run.… }}` in task configs: checked when a definition is read,
//! filled in when a task starts. Nothing else is evaluated: a placeholder is a name, not code.

/// The facts of a run a config may read.
pub const RUN_FACTS: [&str; 4] = ["run.id", "run.date", "run.time", "pipeline.id"];

/// The placeholders of `text` in order, trimmed; an unclosed `{{` is an error.
pub fn placeholders(text: &str) -> Result<Vec<&str>, String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            return Err("has a '{{' without its '}}'".into());
        };
        found.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(found)
}

/// Checks that every placeholder of `text` names one of `params` or a run fact.
pub fn check(text: &str, params: &[&str]) -> Result<(), String> {
    for name in placeholders(text)? {
        if let Some(param) = name.strip_prefix("params.") {
            if !params.contains(&param) {
                let known =
                    if params.is_empty() { "it has none".to_string() } else { format!("it has {}", params.join(", ")) };
                return Err(format!("'{{{{ {name} }}}}' names no parameter of this pipeline ({known})"));
            }
        } else if !RUN_FACTS.contains(&name) {
            return Err(format!(
                "'{{{{ {name} }}}}' is not a placeholder: use params.NAME or one of {}",
                RUN_FACTS.join(", ")
            ));
        }
    }
    Ok(())
}

/// `text` with every placeholder replaced by what `lookup` gives for its name.
pub fn fill(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| "has a '{{' without its '}}'".to_string())?;
        let name = after[..end].trim();
        out.push_str(&lookup(name).ok_or_else(|| format!("nothing fills '{{{{ {name} }}}}'"))?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `text` with each placeholder replaced by `x`, for checks of a value's shape (a URL).
pub fn blank(text: &str) -> String {
    fill(text, |_| Some("x".into())).unwrap_or_else(|_| text.to_string())
}

/// Every string inside `value` with its field path (`config.headers.Accept`, `config.args[0]`).
pub fn strings(value: &serde_json::Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::String(s) => out.push((path.to_string(), s.clone())),
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                strings(item, &format!("{path}[{i}]"), out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                strings(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_found_checked_and_filled() {
        assert_eq!(placeholders("a {{ params.x }} b {{run.id}}").unwrap(), ["params.x", "run.id"]);
        assert!(placeholders("a {{ params.x").unwrap_err().contains("without"));
        assert!(check("{{ params.x }}", &["x"]).is_ok());
        let unknown = check("{{ params.y }}", &["x"]).unwrap_err();
        assert!(unknown.contains("params.y") && unknown.contains("it has x"), "{unknown}");
        assert!(check("{{ os.system }}", &[]).unwrap_err().contains("not a placeholder"));
        let filled = fill("/files/{{ params.id }}?d={{run.date}}", |n| Some(n.to_uppercase())).unwrap();
        assert_eq!(filled, "/files/PARAMS.ID?d=RUN.DATE");
        assert!(fill("{{ a }}", |_| None).unwrap_err().contains("a"));
        assert_eq!(blank("https://{{ params.host }}/x"), "https://x/x");
    }
}
