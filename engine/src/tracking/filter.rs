//! MLflow's search filter for experiments: clauses joined by `AND`, each an identifier, an
//! operator and a value: `name LIKE 'okr-%'`, `tags.team = 'growth'`,
//! `creation_time > 1700000000000`. Keys with spaces or dots are quoted with backticks or
//! double quotes (`tags.\`owner team\``). A filter that does not parse is refused with what was
//! expected and where.

/// What a clause compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    Name,
    Tag(String),
    CreationTime,
    LastUpdateTime,
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
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

/// Parses an experiment filter; an empty one is no clause.
pub fn parse(filter: &str) -> Result<Vec<Clause>, String> {
    let mut p = Parser { s: filter, at: 0 };
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

    fn field(&mut self) -> Result<Field, String> {
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
        match self.word().to_ascii_uppercase().as_str() {
            "LIKE" => Ok(Op::Like),
            "ILIKE" => Ok(Op::ILike),
            _ => {
                self.at = save;
                Err(self.expected("an operator (=, !=, LIKE, ILIKE, <, <=, >, >=)"))
            }
        }
    }

    fn clause(&mut self) -> Result<Clause, String> {
        let field = self.field()?;
        let op = self.op()?;
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
                self.skip_space();
                let digits = self.rest().find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(self.rest().len());
                let number = &self.rest()[..digits];
                match number.parse::<i64>() {
                    Ok(n) => {
                        self.at += digits;
                        Value::Int(n)
                    }
                    Err(_) => return Err(self.expected("a whole number of milliseconds")),
                }
            }
        };
        Ok(Clause { field, op, value })
    }
}

fn describe(field: &Field) -> String {
    match field {
        Field::Name => "name".into(),
        Field::Tag(key) => format!("tags.{key}"),
        Field::CreationTime => "creation_time".into(),
        Field::LastUpdateTime => "last_update_time".into(),
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
