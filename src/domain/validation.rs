//! Field-level validation errors that the HTTP layer turns into a 422 listing every problem.

use std::fmt;

/// One thing wrong with one input field. `field` is the name the client sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// Every problem found in one input, so the client can fix them all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldProblem>);

impl ValidationErrors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldProblem {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Takes the value, or records the problem under `field` and returns `None`.
    pub fn check<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = ValidationErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded.
    pub fn into_result(self) -> Result<(), ValidationErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// Turns a serde data error at `path` into a field problem. serde reports unknown and missing
/// fields against the enclosing object; this names the field itself.
pub fn json_field_problem(path: &str, error: &serde_json::Error) -> FieldProblem {
    let message = without_position(error);
    let named = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    let field = match (named, path) {
        (Some(name), "." | "") => name.to_owned(),
        (Some(name), parent) if !parent.ends_with(name) => format!("{parent}.{name}"),
        _ if path == "." => String::new(),
        _ => path.to_owned(),
    };
    let message = if message.starts_with("unknown field") {
        "is not an accepted field".to_owned()
    } else if message.starts_with("missing field") {
        "is required".to_owned()
    } else {
        message
    };
    FieldProblem { field, message }
}

/// serde_json's message without its " at line 1 column 7" suffix.
pub fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// Deserialises `value` into `T`, reporting a data error as a problem at `prefix.path`.
pub fn from_json_value<T: serde::de::DeserializeOwned>(
    mut value: serde_json::Value,
    prefix: &str,
) -> Result<T, ValidationErrors> {
    whole_numbers_as_integers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let mut problem = json_field_problem(&path, error.inner());
        problem.field = if problem.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", problem.field)
        };
        ValidationErrors(vec![problem])
    })
}

/// `6.0` is a whole number to JSON Schema (`type: integer` takes it) but not to serde's integer
/// types: written as `6` before parsing, so what the schema allows the parser takes. Fractional
/// fields (`f64`) take `6` as well.
fn whole_numbers_as_integers(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0)
                && f.abs() <= 9_007_199_254_740_992.0
            {
                *value = Value::from(f as i64);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(whole_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(whole_numbers_as_integers),
        _ => {}
    }
}

/// Flattens validator's nested errors into dotted field paths (`details.insurance.cover_pence`).
pub fn from_validator(prefix: &str, errors: &validator::ValidationErrors) -> ValidationErrors {
    let mut out = ValidationErrors::default();
    flatten(prefix, errors, &mut out);
    out
}

fn flatten(prefix: &str, errors: &validator::ValidationErrors, out: &mut ValidationErrors) {
    use validator::ValidationErrorsKind;
    let mut fields: Vec<_> = errors.errors().iter().collect();
    fields.sort_by(|a, b| a.0.cmp(b.0));
    for (field, kind) in fields {
        let path = format!("{prefix}.{field}");
        match kind {
            ValidationErrorsKind::Field(list) => {
                for error in list {
                    let message = error
                        .message
                        .as_ref()
                        .map_or_else(|| describe(error), |m| m.to_string());
                    out.add(path.clone(), message);
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(&format!("{path}[{index}]"), inner, out);
                }
            }
        }
    }
}

/// A readable message for validator's built-in checks.
fn describe(error: &validator::ValidationError) -> String {
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    match error.code.as_ref() {
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be {min} to {max} characters"),
            (Some(min), None) => format!("must be at least {min} characters"),
            (None, Some(max)) => format!("must be at most {max} characters"),
            _ => "has the wrong length".into(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".into(),
        },
        "email" => "is not a valid email address".into(),
        other => format!("is not valid ({other})"),
    }
}
