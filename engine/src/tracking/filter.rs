//! MLflow's search filters: clauses joined by `AND`, each an identifier, an operator and a value.
//! Experiments: `name LIKE 'okr-%'`, `tags.team = 'growth'`, `creation_time > 1700000000000`.
//! Runs: `metrics.rmse < 0.5`, `params.model = 'forest'`, `tags.team IS NOT NULL`,
//! `attributes.status = 'FINISHED'`, `run_id IN ('a', 'b')`, `start_time >= 17…`. Keys with
//! spaces or dots are quoted with backticks or double quotes (`tags.\`owner team\``). A filter
//! that does not parse is refused with what was expected and where.

/// What a clause compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Tag(String),
    CreationTime,
    LastUpdateTime,
    // Runs.
    Metric(String),
    Param(String),
    Attribute(RunAttribute),
    /// A model's attribute (registered models, versions, logged models), checked by the caller.
    Named(String),
}

/// A run's own columns as a filter or an order names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunAttribute {
    RunId,
    RunName,
    Status,
    UserId,
    ArtifactUri,
    StartTime,
    EndTime,
    ExperimentId,
}

impl RunAttribute {
    pub fn named(name: &str) -> Option<RunAttribute> {
        Some(match name {
            "run_id" | "run_uuid" => RunAttribute::RunId,
            "run_name" | "run name" => RunAttribute::RunName,
            "status" => RunAttribute::Status,
            "user_id" => RunAttribute::UserId,
            "artifact_uri" => RunAttribute::ArtifactUri,
            "start_time" | "created" => RunAttribute::StartTime,
            "end_time" => RunAttribute::EndTime,
            "experiment_id" => RunAttribute::ExperimentId,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            RunAttribute::RunId => "run_id",
            RunAttribute::RunName => "run_name",
            RunAttribute::Status => "status",
            RunAttribute::UserId => "user_id",
            RunAttribute::ArtifactUri => "artifact_uri",
            RunAttribute::StartTime => "start_time",
            RunAttribute::EndTime => "end_time",
            RunAttribute::ExperimentId => "experiment_id",
        }
    }

    pub fn column(self) -> &'static str {
        match self {
            RunAttribute::RunId => "r.id",
            RunAttribute::RunName => "r.name",
            RunAttribute::Status => "r.status",
            RunAttribute::UserId => "r.user_id",
            RunAttribute::ArtifactUri => "r.artifact_uri",
            RunAttribute::StartTime => "r.start_time",
            RunAttribute::EndTime => "r.end_time",
            RunAttribute::ExperimentId => "r.experiment_id",
        }
    }

    fn is_time(self) -> bool {
        matches!(self, RunAttribute::StartTime | RunAttribute::EndTime)
    }
}

/// What is searched: the filter's fields differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    Experiments,
    Runs,
    /// Registered models, model versions and logged models: attributes, `tags.`, `params.`.
    Models,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Like,
    ILike,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Like => "LIKE",
            Op::ILike => "ILIKE",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
            Op::IsNull => "IS NULL",
            Op::IsNotNull => "IS NOT NULL",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Int(i64),
    Number(f64),
    List(Vec<String>),
    /// `IS NULL` and `IS NOT NULL` compare with nothing.
    Nothing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// Parses an experiment filter; an empty one is no clause.
pub fn parse(filter: &str) -> Result<Vec<Clause>, String> {
    parse_for(Subject::Experiments, filter)
}

/// Parses a filter of `subject`; an empty one is no clause.
pub fn parse_for(subject: Subject, filter: &str) -> Result<Vec<Clause>, String> {
    let mut p = Parser { s: filter, at: 0, subject };
    let mut clauses = Vec::new();
    p.skip_space();
    if p.done() {
        return Ok(clauses);
    }
    loop {
        clauses.push(p.clause()?);
        p.skip_space();
        if p.done() {
            return Ok(clauses);
        }
        let word = p.word();
        if !word.eq_ignore_ascii_case("AND") {
            return Err(p.expected("AND between clauses (OR is not supported)"));
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    at: usize,
    subject: Subject,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.at..]
    }

    fn done(&self) -> bool {
        self.rest().is_empty()
    }

    fn skip_space(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.s.len() - trimmed.len();
    }

    fn expected(&self, what: &str) -> String {
        let near: String = self.rest().chars().take(20).collect();
        if near.is_empty() {
            format!("invalid filter: expected {what} at the end")
        } else {
            format!("invalid filter: expected {what} at character {} (near '{near}')", self.at + 1)
        }
    }

    /// Letters, digits, `_` and `.` (an identifier or a keyword).
    fn word(&mut self) -> &str {
        self.skip_space();
        let start = self.at;
        let len =
            self.rest().find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.')).unwrap_or(self.rest().len());
        self.at += len;
        &self.s[start..self.at]
    }

    /// A string quoted with `'`, `"` or `` ` ``; `None` if none starts here.
    fn quoted(&mut self) -> Result<Option<String>, String> {
        self.skip_space();
        let Some(quote) = self.rest().chars().next().filter(|c| matches!(c, '\'' | '"' | '`')) else {
            return Ok(None);
        };
        let body = &self.rest()[1..];
        let Some(end) = body.find(quote) else {
            return Err(self.expected(&format!("a closing {quote}")));
        };
        let text = body[..end].to_string();
        self.at += end + 2;
        Ok(Some(text))
    }

    /// A key after an entity prefix (`metrics.`): the rest of the word, or a quoted key.
    fn key_after(&mut self, word: &str, prefix: &str) -> Result<String, String> {
        let key = &word[prefix.len()..];
        if !key.is_empty() {
            return Ok(key.to_string());
        }
        match self.quoted()? {
            Some(key) if !key.is_empty() => Ok(key),
            _ => Err(self.expected(&format!("a key after '{prefix}'"))),
        }
    }

    fn run_field(&mut self) -> Result<Field, String> {
        self.skip_space();
        // A whole quoted identifier (`"run name"`) is an attribute.
        if let Some(name) = self.quoted()? {
            return RunAttribute::named(&name.to_ascii_lowercase())
                .map(Field::Attribute)
                .ok_or_else(|| format!("invalid filter: unknown attribute '{name}'"));
        }
        let word = self.word().to_string();
        let lower = word.to_ascii_lowercase();
        let prefixed = |prefixes: &[&'static str]| prefixes.iter().copied().find(|p| lower.starts_with(p));
        if let Some(prefix) = prefixed(&["metrics.", "metric."]) {
            return Ok(Field::Metric(self.key_after(&word, prefix)?));
        }
        if let Some(prefix) = prefixed(&["parameters.", "parameter.", "params.", "param."]) {
            return Ok(Field::Param(self.key_after(&word, prefix)?));
        }
        if let Some(prefix) = prefixed(&["tags.", "tag."]) {
            return Ok(Field::Tag(self.key_after(&word, prefix)?));
        }
        let name = match prefixed(&["attributes.", "attribute.", "attr.", "run."]) {
            Some(prefix) => self.key_after(&word, prefix)?.to_ascii_lowercase(),
            None if lower.is_empty() => {
                return Err(self.expected("metrics.<key>, params.<key>, tags.<key> or an attribute"))
            }
            None => lower,
        };
        RunAttribute::named(&name).map(Field::Attribute).ok_or_else(|| {
            format!(
                "invalid filter: unknown field '{name}'; runs are filtered by metrics.<key>, params.<key>, tags.<key> \
                 or the attributes run_id, run_name, status, user_id, artifact_uri, start_time, end_time"
            )
        })
    }

    fn model_field(&mut self) -> Result<Field, String> {
        let word = self.word().to_string();
        let lower = word.to_ascii_lowercase();
        let prefixed = |prefixes: &[&'static str]| prefixes.iter().copied().find(|p| lower.starts_with(p));
        if let Some(prefix) = prefixed(&["tags.", "tag."]) {
            return Ok(Field::Tag(self.key_after(&word, prefix)?));
        }
        if let Some(prefix) = prefixed(&["params.", "param."]) {
            return Ok(Field::Param(self.key_after(&word, prefix)?));
        }
        let name = match prefixed(&["attributes.", "attribute.", "attr."]) {
            Some(prefix) => self.key_after(&word, prefix)?.to_ascii_lowercase(),
            None if lower.is_empty() => return Err(self.expected("an attribute, tags.<key> or params.<key>")),
            None => lower,
        };
        Ok(Field::Named(name))
    }

    /// A model clause's value: a quoted string, a bare whole number (`version_number = 2`), or
    /// a list for IN.
    fn model_clause(&mut self, field: Field, op: Op) -> Result<Clause, String> {
        let value = match op {
            Op::In | Op::NotIn => Value::List(self.list()?),
            Op::Eq | Op::Ne | Op::Like | Op::ILike => match self.quoted()? {
                Some(text) => Value::Text(text),
                None => match self.whole() {
                    Ok(n) => Value::Text(n.to_string()),
                    Err(_) => return Err(self.expected("a quoted string or a whole number")),
                },
            },
            Op::IsNull | Op::IsNotNull => Value::Nothing,
            _ => {
                return Err(format!(
                    "invalid filter: {} compares with =, !=, LIKE, ILIKE, IN or NOT IN",
                    describe(&field)
                ))
            }
        };
        Ok(Clause { field, op, value })
    }

    fn field(&mut self) -> Result<Field, String> {
        if self.subject == Subject::Runs {
            return self.run_field();
        }
        if self.subject == Subject::Models {
            return self.model_field();
        }
        let word = self.word().to_string();
        let lower = word.to_ascii_lowercase();
        let tag_prefix = ["tags.", "tag."].into_iter().find(|p| lower.starts_with(p));
        if let Some(prefix) = tag_prefix {
            let key = &word[prefix.len()..];
            if !key.is_empty() {
                return Ok(Field::Tag(key.to_string()));
            }
            // `tags.` followed by a quoted key.
            return match self.quoted()? {
                Some(key) if !key.is_empty() => Ok(Field::Tag(key)),
                _ => Err(self.expected("a tag key after 'tags.'")),
            };
        }
        let attribute =
            ["attributes.", "attribute.", "attr."].into_iter().find_map(|p| lower.strip_prefix(p)).unwrap_or(&lower);
        match attribute {
            "name" => Ok(Field::Name),
            "creation_time" => Ok(Field::CreationTime),
            "last_update_time" => Ok(Field::LastUpdateTime),
            "" => Err(self.expected("name, tags.<key>, creation_time or last_update_time")),
            other => Err(format!(
                "invalid filter: unknown field '{other}'; experiments are filtered by name, tags.<key>, creation_time or last_update_time"
            )),
        }
    }

    fn op(&mut self) -> Result<Op, String> {
        self.skip_space();
        for (text, op) in [("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("=", Op::Eq), ("<", Op::Lt), (">", Op::Gt)]
        {
            if self.rest().starts_with(text) {
                self.at += text.len();
                return Ok(op);
            }
        }
        let save = self.at;
        let word = self.word().to_ascii_uppercase();
        let runs = self.subject != Subject::Experiments;
        match word.as_str() {
            "LIKE" => Ok(Op::Like),
            "ILIKE" => Ok(Op::ILike),
            "IN" if runs => Ok(Op::In),
            "NOT" if runs && self.word().eq_ignore_ascii_case("IN") => Ok(Op::NotIn),
            "IS" if runs => {
                let not = self.word().to_ascii_uppercase();
                let null = if not == "NOT" { self.word().to_ascii_uppercase() } else { not.clone() };
                match (not.as_str(), null.as_str()) {
                    ("NOT", "NULL") => Ok(Op::IsNotNull),
                    ("NULL", "NULL") => Ok(Op::IsNull),
                    _ => Err(self.expected("NULL or NOT NULL after IS")),
                }
            }
            _ => {
                self.at = save;
                Err(self.expected(if runs {
                    "an operator (=, !=, LIKE, ILIKE, <, <=, >, >=, IN, NOT IN, IS NULL, IS NOT NULL)"
                } else {
                    "an operator (=, !=, LIKE, ILIKE, <, <=, >, >=)"
                }))
            }
        }
    }

    /// `('a', 'b', …)` for IN.
    fn list(&mut self) -> Result<Vec<String>, String> {
        self.skip_space();
        if !self.rest().starts_with('(') {
            return Err(self.expected("a parenthesised list of quoted strings after IN"));
        }
        self.at += 1;
        let mut items = Vec::new();
        loop {
            match self.quoted()? {
                Some(item) => items.push(item),
                None => return Err(self.expected("a quoted string in the IN list")),
            }
            self.skip_space();
            match self.rest().chars().next() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    return Ok(items);
                }
                _ => return Err(self.expected("',' or ')' in the IN list")),
            }
        }
    }

    /// A number as MLflow's metric comparisons take it: `0.5`, `-3`, `1e-4`.
    fn number(&mut self) -> Result<f64, String> {
        self.skip_space();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E')))
            .unwrap_or(self.rest().len());
        match self.rest()[..len].parse::<f64>() {
            Ok(n) if len > 0 && n.is_finite() => {
                self.at += len;
                Ok(n)
            }
            _ => Err(self.expected("a number")),
        }
    }

    fn run_clause(&mut self, field: Field, op: Op) -> Result<Clause, String> {
        let what = describe(&field);
        let text_ops = matches!(op, Op::Eq | Op::Ne | Op::Like | Op::ILike);
        let value = match &field {
            Field::Metric(_) => {
                if !matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) {
                    return Err(format!("invalid filter: {what} compares with =, !=, <, <=, > or >="));
                }
                Value::Number(self.number()?)
            }
            Field::Param(_) | Field::Tag(_) => match op {
                Op::IsNull | Op::IsNotNull => Value::Nothing,
                _ if text_ops => self.text()?,
                _ => {
                    return Err(format!(
                        "invalid filter: {what} compares with =, !=, LIKE, ILIKE, IS NULL or IS NOT NULL"
                    ))
                }
            },
            Field::Attribute(a) if a.is_time() => {
                if matches!(op, Op::Like | Op::ILike | Op::In | Op::NotIn) {
                    return Err(format!("invalid filter: {what} compares with =, !=, <, <=, >, >= or IS NULL"));
                }
                match op {
                    Op::IsNull | Op::IsNotNull => Value::Nothing,
                    _ => Value::Int(self.whole()?),
                }
            }
            Field::Attribute(RunAttribute::ExperimentId) => {
                return Err("invalid filter: runs are chosen by experiment_ids, not by a filter on experiment_id".into())
            }
            Field::Attribute(_) => match op {
                Op::In | Op::NotIn => Value::List(self.list()?),
                _ if text_ops => self.text()?,
                _ => return Err(format!("invalid filter: {what} compares with =, !=, LIKE, ILIKE, IN or NOT IN")),
            },
            _ => return Err(format!("invalid filter: {what} is not a run field")),
        };
        Ok(Clause { field, op, value })
    }

    fn text(&mut self) -> Result<Value, String> {
        match self.quoted()? {
            Some(text) => Ok(Value::Text(text)),
            None => Err(self.expected("a quoted string")),
        }
    }

    fn whole(&mut self) -> Result<i64, String> {
        self.skip_space();
        let digits = self.rest().find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(self.rest().len());
        match self.rest()[..digits].parse::<i64>() {
            Ok(n) => {
                self.at += digits;
                Ok(n)
            }
            Err(_) => Err(self.expected("a whole number of milliseconds")),
        }
    }

    fn clause(&mut self) -> Result<Clause, String> {
        let field = self.field()?;
        let op = self.op()?;
        if self.subject == Subject::Runs {
            return self.run_clause(field, op);
        }
        if self.subject == Subject::Models {
            return self.model_clause(field, op);
        }
        if matches!(op, Op::In | Op::NotIn | Op::IsNull | Op::IsNotNull) {
            return Err(self.expected("an operator (=, !=, LIKE, ILIKE, <, <=, >, >=)"));
        }
        let value = match &field {
            Field::Name | Field::Tag(_) => {
                if !matches!(op, Op::Eq | Op::Ne | Op::Like | Op::ILike) {
                    return Err(format!("invalid filter: {} compares with =, !=, LIKE or ILIKE", describe(&field)));
                }
                match self.quoted()? {
                    Some(text) => Value::Text(text),
                    None => return Err(self.expected("a quoted string")),
                }
            }
            Field::CreationTime | Field::LastUpdateTime => {
                if matches!(op, Op::Like | Op::ILike) {
                    return Err(format!("invalid filter: {} compares with =, !=, <, <=, > or >=", describe(&field)));
                }
                Value::Int(self.whole()?)
            }
            _ => return Err(format!("invalid filter: {} is not an experiment field", describe(&field))),
        };
        Ok(Clause { field, op, value })
    }
}

/// One `order_by` entry of a run search: `metrics.rmse DESC`, `params.\`learning rate\``,
/// `attributes.start_time ASC`; the field and whether it ascends (the default).
pub fn run_order(entry: &str) -> Result<(Field, bool), String> {
    let mut p = Parser { s: entry, at: 0, subject: Subject::Runs };
    let field = p.run_field().map_err(|e| e.replacen("invalid filter", &format!("invalid order_by '{entry}'"), 1))?;
    let ascending = match p.word().to_ascii_uppercase().as_str() {
        "" | "ASC" => true,
        "DESC" => false,
        other => return Err(format!("invalid order_by '{entry}': expected ASC or DESC, got '{other}'")),
    };
    p.skip_space();
    if !p.done() {
        return Err(format!("invalid order_by '{entry}': unexpected '{}'", p.rest()));
    }
    Ok((field, ascending))
}

fn describe(field: &Field) -> String {
    match field {
        Field::Name => "name".into(),
        Field::Tag(key) => format!("tags.{key}"),
        Field::CreationTime => "creation_time".into(),
        Field::LastUpdateTime => "last_update_time".into(),
        Field::Metric(key) => format!("metrics.{key}"),
        Field::Param(key) => format!("params.{key}"),
        Field::Attribute(a) => a.name().into(),
        Field::Named(name) => name.clone(),
    }
}

/// A LIKE pattern (`%`, `_`) as a GLOB pattern, for SQLite, whose LIKE ignores case.
pub fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' | '?' | '[' | ']' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_parse_with_their_fields_operators_and_values() {
        let clauses = parse("name LIKE 'okr-%' AND tags.team = \"growth\" and creation_time >= 17").unwrap();
        assert_eq!(
            clauses,
            [
                Clause { field: Field::Name, op: Op::Like, value: Value::Text("okr-%".into()) },
                Clause { field: Field::Tag("team".into()), op: Op::Eq, value: Value::Text("growth".into()) },
                Clause { field: Field::CreationTime, op: Op::Ge, value: Value::Int(17) },
            ]
        );
        assert_eq!(parse("tags.`owner team` != 'x'").unwrap()[0].field, Field::Tag("owner team".into()));
        assert_eq!(parse("attributes.name ILIKE '%A%'").unwrap()[0].op, Op::ILike);
        assert!(parse("   ").unwrap().is_empty());
    }

    #[test]
    fn a_filter_that_does_not_parse_says_what_was_expected() {
        let err = |f: &str| parse(f).unwrap_err();
        assert!(err("name = 'a' OR name = 'b'").contains("AND between clauses"));
        assert!(err("status = 'x'").contains("unknown field 'status'"));
        assert!(err("name > 'a'").contains("=, !=, LIKE or ILIKE"));
        assert!(err("name = 'open").contains("closing '"));
        assert!(err("creation_time LIKE '1'").contains("<, <="));
        assert!(err("creation_time > soon").contains("whole number"));
        assert!(err("name").contains("an operator"));
        assert!(err("name = ").contains("a quoted string"));
    }

    #[test]
    fn like_patterns_become_glob_patterns() {
        assert_eq!(like_to_glob("okr-%_x*[1]"), "okr-*?x[*][[]1[]]");
    }
}
