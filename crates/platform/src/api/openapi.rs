//! The API document's shared pieces: cross-cutting corrections applied to the assembled
//! document (every error is an RFC 9457 problem document), and schemas for the request
//! fields whose rules the server enforces, so the document states exactly what is accepted.

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

/// The media type of every error body (see [`crate::http::Problem`]).
pub const PROBLEM_JSON: &str = "application/problem+json";

const PROBLEM_REF: &str = "#/components/schemas/Problem";

/// Applies [`problem_media_type`] and [`default_problem_response`] to every operation, and in
/// debug builds checks that every schema reference resolves.
/// Adds what the products told about themselves: the description names them, and their tags
/// follow the platform's.
pub fn describe_products(
    openapi: &mut OpenApi,
    summaries: &[&str],
    tags: &[(&'static str, &'static str)],
) {
    let products = match summaries {
        [] => "Products".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    openapi.info.description = Some(format!(
        "{products} on one platform. Errors are RFC 9457 problem documents. Timestamps are RFC 3339."
    ));
    let list = openapi.tags.get_or_insert_with(Vec::new);
    for (name, description) in tags {
        list.push(
            utoipa::openapi::tag::TagBuilder::new()
                .name(*name)
                .description(Some(*description))
                .build(),
        );
    }
}

pub fn finish(openapi: &mut OpenApi) {
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ];
        for operation in operations.into_iter().flatten() {
            problem_media_type(operation);
            default_problem_response(operation);
        }
        for operation in item.additional_operations.values_mut() {
            problem_media_type(operation);
            default_problem_response(operation);
        }
    }
    #[cfg(debug_assertions)]
    if let Some(missing) = dangling_references(openapi).first() {
        panic!("the API document refers to a schema it does not define: {missing}");
    }
}

/// `$ref`s to `#/components/schemas/…` that name no schema of the document.
pub fn dangling_references(openapi: &OpenApi) -> Vec<String> {
    fn collect(value: &serde_json::Value, refs: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| collect(v, refs));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    collect(
        &serde_json::to_value(openapi).expect("the document serializes"),
        &mut refs,
    );
    let defined = |name: &str| {
        openapi
            .components
            .as_ref()
            .is_some_and(|c| c.schemas.contains_key(name))
    };
    refs.sort();
    refs.dedup();
    refs.into_iter()
        .filter(|r| {
            r.strip_prefix("#/components/schemas/")
                .is_some_and(|name| !defined(name))
        })
        .collect()
}

/// Responses documented with `body = Problem` are generated as `application/json`; the
/// server sends them as `application/problem+json`.
fn problem_media_type(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let content = std::mem::take(&mut response.content);
        response.content = content
            .into_iter()
            .map(|(media_type, content)| {
                if media_type == "application/json" && is_problem(&content) {
                    (PROBLEM_JSON.to_string(), content)
                } else {
                    (media_type, content)
                }
            })
            .collect();
    }
}

fn is_problem(content: &RefOr<Content>) -> bool {
    matches!(
        content,
        RefOr::T(Content { schema: Some(RefOr::Ref(r)), .. }) if r.ref_location == PROBLEM_REF
    )
}

/// Any operation can also answer with an error its annotation does not list (400 for a
/// malformed path or body, 401, 403, 404, 405, 413, 429 from the rate limit, 503 on a
/// timeout, …); all of them are problem documents.
fn default_problem_response(operation: &mut Operation) {
    operation
        .responses
        .responses
        .entry("default".to_string())
        .or_insert_with(|| {
            let mut response = Response::new("Any other error: a problem document");
            response.content.insert(
                PROBLEM_JSON.to_string(),
                RefOr::T(Content::new(Some(Ref::new(PROBLEM_REF)))),
            );
            RefOr::T(response)
        });
}

/// A schema written as JSON. Panics on a malformed schema, and in debug builds on one that
/// utoipa's model cannot hold as written (e.g. `oneOf` beside `properties`: use `allOf`).
pub fn json_schema(value: serde_json::Value) -> RefOr<Schema> {
    let schema = match serde_json::from_value::<Schema>(value.clone()) {
        Ok(schema) => schema,
        Err(err) => panic!("bad schema {value}: {err}"),
    };
    debug_assert_eq!(
        serde_json::to_value(&schema).ok().as_ref(),
        Some(&value),
        "schema changed by utoipa's model"
    );
    RefOr::T(schema)
}

/// Request-field schemas matching the server's parsing, for `#[schema(schema_with = …)]` and
/// `#[param(schema_with = …)]`. Text rules are spelled as regular expressions over Rust's
/// notion of whitespace (`str::trim`) and control characters (`char::is_control`), because
/// the server trims before it measures.
pub mod fields {
    use serde_json::json;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    use super::json_schema;

    /// Characters `str::trim` removes (Unicode `White_Space`).
    const SPACE: &str = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";
    /// Not whitespace.
    const VISIBLE: &str = r"[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
    /// Neither whitespace nor a control character.
    const VISIBLE_NO_CONTROL: &str =
        r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";
    /// Not a control character.
    const NO_CONTROL: &str = r"[^\u0000-\u001f\u007f-\u009f]";
    /// Allowed in an e-mail address: no whitespace, control characters, `<`, `>` or `@`.
    const EMAIL_CHAR: &str =
        r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>@]";
    const EMAIL_CHAR_NO_DOT: &str =
        r"[^\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000<>@.]";

    fn nullable(mut schema: serde_json::Value) -> serde_json::Value {
        schema["type"] = json!([schema["type"], "null"]);
        schema
    }

    /// Text that, trimmed, is 1 to `max` characters with no control characters (names).
    fn one_line_text(max: usize) -> serde_json::Value {
        assert!(max >= 2);
        json!({
            "type": "string",
            "pattern": format!(
                "^[{SPACE}]*{VISIBLE_NO_CONTROL}(?:{NO_CONTROL}{{0,{}}}{VISIBLE_NO_CONTROL})?[{SPACE}]*$",
                max - 2
            ),
            "description": format!(
                "1 to {max} characters after trimming surrounding whitespace; no control characters."
            ),
        })
    }

    /// Text that, trimmed, is 1 to `max` characters.
    fn trimmed_text(max: usize) -> serde_json::Value {
        assert!(max >= 2);
        json!({
            "type": "string",
            "pattern": format!(
                r"^[{SPACE}]*{VISIBLE}(?:[\s\S]{{0,{}}}{VISIBLE})?[{SPACE}]*$",
                max - 2
            ),
            "description": format!("1 to {max} characters after trimming surrounding whitespace."),
        })
    }

    /// Text that, trimmed, is at most `max` characters (possibly empty).
    fn trimmed_optional_text(max: usize) -> serde_json::Value {
        assert!(max >= 2);
        json!({
            "type": "string",
            "pattern": format!(
                r"^[{SPACE}]*(?:{VISIBLE}(?:[\s\S]{{0,{}}}{VISIBLE})?)?[{SPACE}]*$",
                max - 2
            ),
            "description": format!("At most {max} characters after trimming surrounding whitespace."),
        })
    }

    /// The server takes up to 254 bytes (UTF-8, lower-cased), which a pattern cannot count;
    /// 31 characters on each side of the `@` always fit.
    fn email_text() -> serde_json::Value {
        json!({
            "type": "string",
            "pattern": format!(
                "^[{SPACE}]*{EMAIL_CHAR}{{1,31}}@{EMAIL_CHAR_NO_DOT}(?:{EMAIL_CHAR}{{0,29}}{EMAIL_CHAR_NO_DOT})?[{SPACE}]*$"
            ),
            "description": "An e-mail address (`name@example.com`), compared without case: no \
                whitespace, control characters, `<` or `>`, one `@`, a domain not starting or \
                ending with a dot. The server takes up to 254 bytes; this pattern admits up to \
                31 characters on each side of the `@`.",
        })
    }

    fn new_password_text() -> serde_json::Value {
        json!({
            "type": "string",
            "minLength": 10,
            "maxLength": 256,
            "pattern": VISIBLE,
            "description": "10 to 256 characters, not only whitespace.",
        })
    }

    /// A name: trimmed, 1 to `MAX` characters, no control characters.
    pub fn one_line<const MAX: usize>() -> RefOr<Schema> {
        json_schema(one_line_text(MAX))
    }

    /// [`one_line`], or `null` to keep the current value.
    pub fn one_line_or_null<const MAX: usize>() -> RefOr<Schema> {
        json_schema(nullable(one_line_text(MAX)))
    }

    /// Trimmed, 1 to `MAX` characters.
    pub fn trimmed<const MAX: usize>() -> RefOr<Schema> {
        json_schema(trimmed_text(MAX))
    }

    /// Trimmed, at most `MAX` characters.
    pub fn trimmed_optional<const MAX: usize>() -> RefOr<Schema> {
        json_schema(trimmed_optional_text(MAX))
    }

    /// [`trimmed_optional`], or `null`.
    pub fn trimmed_optional_or_null<const MAX: usize>() -> RefOr<Schema> {
        json_schema(nullable(trimmed_optional_text(MAX)))
    }

    /// At most `MAX` characters, counted as sent.
    pub fn at_most<const MAX: usize>() -> RefOr<Schema> {
        json_schema(json!({"type": "string", "maxLength": MAX}))
    }

    /// [`at_most`], or `null`.
    pub fn at_most_or_null<const MAX: usize>() -> RefOr<Schema> {
        json_schema(json!({"type": ["string", "null"], "maxLength": MAX}))
    }

    pub fn email() -> RefOr<Schema> {
        json_schema(email_text())
    }

    pub fn email_or_null() -> RefOr<Schema> {
        json_schema(nullable(email_text()))
    }

    /// A new password: 10 to 256 characters, not only whitespace.
    pub fn new_password() -> RefOr<Schema> {
        json_schema(new_password_text())
    }

    pub fn new_password_or_null() -> RefOr<Schema> {
        json_schema(nullable(new_password_text()))
    }

    /// Any non-empty text (a password being checked, a secret token).
    pub fn non_empty() -> RefOr<Schema> {
        json_schema(json!({"type": "string", "minLength": 1}))
    }

    /// An RFC 3339 timestamp such as `2026-01-31T09:00:00Z`.
    pub fn timestamp() -> RefOr<Schema> {
        json_schema(json!({"type": "string", "format": "date-time"}))
    }

    /// An IANA time-zone name such as `Europe/Berlin`, or empty (UTC, or "not set").
    fn time_zone_text() -> serde_json::Value {
        let mut names: Vec<&str> = crate::web::time_zone_names()
            .iter()
            .map(String::as_str)
            .collect();
        names.push("");
        json!({
            "type": "string",
            "enum": names,
            "description": "An IANA time-zone name such as `Europe/Berlin`; empty for none.",
        })
    }

    pub fn time_zone_or_empty() -> RefOr<Schema> {
        json_schema(time_zone_text())
    }

    /// A time-zone name, empty to unset, or null (or absent) to keep.
    pub fn time_zone_empty_or_null() -> RefOr<Schema> {
        let mut schema = nullable(time_zone_text());
        if let Some(names) = schema["enum"].as_array_mut() {
            names.push(serde_json::Value::Null);
        }
        json_schema(schema)
    }

    /// An RFC 3339 timestamp, or empty for the default.
    pub fn timestamp_or_empty() -> RefOr<Schema> {
        json_schema(json!({
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "string", "maxLength": 0},
            ],
            "description": "An RFC 3339 timestamp such as `2026-01-31T09:00:00Z`; empty for the default.",
        }))
    }

    /// One of `words`, as the server compares them: exact.
    pub fn one_of(words: &[&str]) -> serde_json::Value {
        json!({"type": "string", "enum": words})
    }

    /// One of `words` with surrounding whitespace ignored, or only whitespace (empty) for none.
    pub fn one_of_trimmed_or_blank(words: &[&str]) -> RefOr<Schema> {
        json_schema(json!({
            "type": "string",
            "pattern": format!("^[{SPACE}]*(?:{})?[{SPACE}]*$", words.join("|")),
            "description": format!("One of {}; empty for any.", quoted(words)),
        }))
    }

    /// One of `words` with surrounding whitespace ignored, or exactly empty for none.
    pub fn one_of_trimmed_or_empty(words: &[&str]) -> RefOr<Schema> {
        json_schema(json!({
            "type": "string",
            "pattern": format!("^(?:[{SPACE}]*(?:{})[{SPACE}]*)?$", words.join("|")),
            "description": format!("One of {}; empty for any.", quoted(words)),
        }))
    }

    /// A comma-separated list of `words` (spaces around them and empty entries ignored).
    pub fn list_of_trimmed(words: &[&str]) -> RefOr<Schema> {
        let word = format!("[{SPACE}]*(?:{})?[{SPACE}]*", words.join("|"));
        json_schema(json!({
            "type": "string",
            "pattern": format!("^{word}(?:,{word})*$"),
            "description": format!("Comma-separated, any of {}.", quoted(words)),
        }))
    }

    fn quoted(words: &[&str]) -> String {
        words
            .iter()
            .map(|w| format!("`{w}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `schema` with `text` as its description. (`schema_with` replaces a field's doc comment,
    /// so a field whose comment says more than the schema's own description passes it here.)
    pub fn described(schema: RefOr<Schema>, text: &str) -> RefOr<Schema> {
        let mut value = serde_json::to_value(&schema).expect("a schema serializes");
        value["description"] = text.into();
        json_schema(value)
    }

    /// Whitespace, as `str::trim` sees it, for patterns built elsewhere.
    pub const WHITESPACE_CLASS: &str = SPACE;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_bodies_get_their_media_type_and_every_operation_a_default() {
        let mut openapi = crate::api::router().split_for_parts().1;
        finish(&mut openapi);
        let json = serde_json::to_value(&openapi).unwrap();
        let paths = json["paths"].as_object().unwrap();
        assert!(!paths.is_empty());
        for (path, item) in paths {
            for (method, operation) in item.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert_eq!(
                    responses["default"]["content"][PROBLEM_JSON]["schema"]["$ref"], PROBLEM_REF,
                    "{method} {path}"
                );
                for (status, response) in responses {
                    let Some(content) = response["content"].as_object() else {
                        continue;
                    };
                    if let Some(json) = content.get("application/json") {
                        assert_ne!(
                            json["schema"]["$ref"], PROBLEM_REF,
                            "{method} {path} {status}"
                        );
                    }
                }
            }
        }
    }
}
