//! The OpenAPI document: its frame (title, security scheme, shared schemas),
//! the paths from the handlers' own `#[utoipa::path]` annotations, and then
//! what the annotations cannot say, added to every operation the same way:
//! every status the service can answer (problems as
//! `application/problem+json`), the categories and currencies this
//! installation accepts, and parameters that only come together.

use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{PROBLEM_CONTENT_TYPE, Problem, ProblemType};
use super::pagination::CURSOR_PATTERN;
use crate::domain::fields::{
    BIDI_CONTROLS, BLANK_RANGES, LINE_BREAKS, SINGLE_LINE_FIELDS, is_blank_char, is_refused_in_a_line,
};
use crate::domain::policy::ApprovalPolicy;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Countersign",
        description = "Two-person exception approval for customer service: a frontline agent files an \
                       out-of-policy resolution, a second agent co-signs, and two customer-facing people \
                       agreeing approves it. Errors are RFC 9457 problem documents.",
    ),
    components(schemas(Problem)),
    modifiers(&BearerToken),
    tags(
        (name = "operations", description = "Health, readiness and metrics"),
        (name = "people", description = "Employees, roles and API tokens (admin)"),
        (name = "integrations", description = "Helpdesk integrations (admin) and their inbound webhooks"),
        (name = "proposals", description = "Filing, co-signing, declining, revising, withdrawing, outcomes"),
        (name = "reviews", description = "Manager review of decided proposals"),
        (name = "standing approvals", description = "Exceptions promoted to policy: filings they cover are approved as filed"),
        (name = "reports", description = "Review reports for managers: JSON, or CSV with Accept: text/csv"),
        (name = "audit", description = "The hash-chained audit log"),
        (name = "webhooks", description = "Outbound webhooks: endpoints, the delivery log, resending (admin)"),
    )
)]
pub struct ApiDoc;

/// Every `/v1` endpoint takes `Authorization: Bearer <token>`.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cs_…")
                    .build(),
            ),
        );
    }
}

/// The document as served: the annotated one, completed (see the module
/// documentation). `policy` fills in what this installation accepts.
pub fn complete(openapi: utoipa::openapi::OpenApi, policy: Option<&ApprovalPolicy>) -> Value {
    let mut document = serde_json::to_value(openapi).expect("the OpenAPI document serialises");
    if let Some(paths) = document["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else { continue };
            for operation in item.values_mut() {
                if let Some(operation) = operation.as_object_mut() {
                    complete_responses(path, operation);
                }
            }
        }
    }
    pair_link_parameters(
        &mut document,
        "anchor",
        "An earlier `head`: `anchor_seq` and `anchor_hash`, both or neither.",
    );
    pair_link_parameters(
        &mut document,
        "resume",
        "Continues a full check (`full` implied) from the `head` of its previous page: `resume_seq` and `resume_hash`, both or neither.",
    );
    previewed_filing_without_policy(&mut document);
    if let Some(policy) = policy {
        describe_policy(&mut document, policy);
    }
    describe_texts(&mut document);
    match policy {
        Some(policy) => {
            describe_filing_money(&mut document, policy, "CreateProposal", "amount_minor");
            describe_filing_money(&mut document, policy, "CreateStandingApproval", "max_amount_minor");
        }
        None => {
            pair_money(&mut document, "CreateProposal", "amount_minor");
            pair_money(&mut document, "CreateStandingApproval", "max_amount_minor");
        }
    }
    pair_money(&mut document, "RecordOutcome", "actual_amount_minor");
    pair_money(&mut document, PREVIEWED_FILING, "amount_minor");
    document
}

/// The blank characters of `domain::fields` as a regex class body; `nul`
/// says whether U+0000 is among them.
fn blank_class(nul: bool) -> String {
    BLANK_RANGES
        .iter()
        .map(|&(from, to)| {
            let from = if from == '\0' && !nul { '\u{1}' } else { from };
            if from == to {
                format!("\\u{:04x}", from as u32)
            } else {
                format!("\\u{:04x}-\\u{:04x}", from as u32, to as u32)
            }
        })
        .collect()
}

/// A required text: no NUL (nor, in one line, a control or direction-
/// changing character), and at least one character that shows.
fn visible_text_pattern(one_line: bool) -> String {
    let refused = if one_line {
        refused_in_a_line()
    } else {
        "\\u0000".to_owned()
    };
    format!("^[^{refused}]*[^{}][^{refused}]*$", blank_class(true))
}

/// What a one-line field refuses anywhere, as a regex class body: control
/// characters and the direction-changing ones of `domain::fields`.
fn refused_in_a_line() -> String {
    let mut class = String::from("\\u0000-\\u001f\\u007f-\\u009f");
    for c in LINE_BREAKS {
        class.push_str(&range(c, c));
    }
    for &(from, to) in BIDI_CONTROLS {
        class.push_str(&range(from, to));
    }
    class
}

/// An optional text: anything but NUL (blank means absent).
const ANY_TEXT_PATTERN: &str = "^[^\\u0000]*$";

/// Three capital letters.
const CURRENCY_PATTERN: &str = "^[A-Z]{3}$";

fn email_pattern() -> String {
    // Around it, blanks that a line allows (trimmed); inside, no blank.
    let around = class_of(|c| is_blank_char(c) && !is_refused_in_a_line(c));
    let inside = blank_class(true);
    format!("^[{around}]*[^{inside}@]+@[^{inside}@]*\\.[^{inside}@]*[{around}]*$")
}

/// The blank characters for which `keep` holds, as a regex class body.
fn class_of(keep: impl Fn(char) -> bool) -> String {
    let mut class = String::new();
    let mut run: Option<(char, char)> = None;
    let chars = BLANK_RANGES
        .iter()
        .flat_map(|&(from, to)| from..=to)
        .filter(|c| keep(*c));
    for c in chars {
        run = match run {
            Some((from, to)) if to as u32 + 1 == c as u32 => Some((from, c)),
            Some((from, to)) => {
                class.push_str(&range(from, to));
                Some((c, c))
            }
            None => Some((c, c)),
        };
    }
    if let Some((from, to)) = run {
        class.push_str(&range(from, to));
    }
    class
}

fn range(from: char, to: char) -> String {
    if from == to {
        format!("\\u{:04x}", from as u32)
    } else {
        format!("\\u{:04x}-\\u{:04x}", from as u32, to as u32)
    }
}

/// A signer group's name (see `domain::employee::is_group_name`).
const GROUP_NAME_PATTERN: &str = "^[a-z0-9_]{1,64}$";

/// Every text the service takes says, as a pattern, what it accepts: the
/// request bodies' string properties (a minimum length of 1 marks a
/// required text; emails and currencies have their own) and the header and
/// query parameters. A body whose schema requires nothing may be left out
/// (an empty body reads as `{}`).
fn describe_texts(document: &mut Value) {
    let schemas = document["components"]["schemas"].clone();
    let mut bodies = Vec::new();
    let operations = document["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        if let Some(parameters) = operation.get_mut("parameters").and_then(Value::as_array_mut) {
            parameters.iter_mut().for_each(describe_parameter);
        }
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        let Some(name) = body["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .map(|reference| reference.trim_start_matches("#/components/schemas/").to_owned())
        else {
            continue;
        };
        let requires_something = schemas[&name]["required"].as_array().is_some_and(|r| !r.is_empty());
        body["required"] = json!(requires_something);
        bodies.push(name);
    }
    for name in bodies {
        let Some(properties) = document["components"]["schemas"][&name]["properties"].as_object_mut() else {
            continue;
        };
        for (field, property) in properties.iter_mut() {
            // Lists of names (teams): each a required text of 1-100.
            let is_list = match &property["type"] {
                Value::String(kind) => kind == "array",
                Value::Array(kinds) => kinds.iter().any(|kind| kind == "array"),
                _ => false,
            };
            if is_list && field == "groups" && accepts_strings(&property["items"]) {
                property["items"]["pattern"] = json!(GROUP_NAME_PATTERN);
                continue;
            }
            if is_list && accepts_strings(&property["items"]) {
                property["items"]["minLength"] = json!(1);
                property["items"]["maxLength"] = json!(100);
                property["items"]["pattern"] =
                    json!(visible_text_pattern(SINGLE_LINE_FIELDS.contains(&field.as_str())));
                continue;
            }
            if !accepts_strings(property) || property.get("enum").is_some() || property.get("pattern").is_some() {
                continue;
            }
            let one_line = SINGLE_LINE_FIELDS.contains(&field.as_str());
            let pattern = match field.as_str() {
                "email" => email_pattern(),
                "currency" => CURRENCY_PATTERN.to_owned(),
                _ if property.get("minLength").is_some() => visible_text_pattern(one_line),
                _ if one_line => format!("^[^{}]*$", refused_in_a_line()),
                _ => ANY_TEXT_PATTERN.to_owned(),
            };
            property["pattern"] = json!(pattern);
        }
    }
}

fn accepts_strings(schema: &Value) -> bool {
    match &schema["type"] {
        Value::String(kind) => kind == "string",
        Value::Array(kinds) => kinds.iter().any(|kind| kind == "string"),
        _ => false,
    }
}

/// Header and query parameters say what they accept.
fn describe_parameter(parameter: &mut Value) {
    let name = parameter["name"].as_str().unwrap_or("").to_owned();
    let in_query = parameter["in"] == "query";
    let in_header = parameter["in"] == "header";
    let schema = &mut parameter["schema"];
    // A header is there or not; it is never `null`.
    if in_header && let Some(kinds) = schema["type"].as_array() {
        schema["type"] = kinds
            .iter()
            .find(|kind| *kind != "null")
            .cloned()
            .unwrap_or(Value::Null);
    }
    let pattern = match name.as_str() {
        "Idempotency-Key" => "^[!-~]{1,255}$",
        "If-Match" => "^\"revision-[1-9][0-9]{0,8}\"$",
        "Countersign-On-Behalf-Of" => "^[ -~]*$",
        "cursor" if in_query => CURSOR_PATTERN,
        _ if in_query
            && accepts_strings(schema)
            && schema.get("format").is_none()
            && schema.get("enum").is_none()
            && schema.get("pattern").is_none() =>
        {
            ANY_TEXT_PATTERN
        }
        _ => return,
    };
    schema["pattern"] = json!(pattern);
}

/// An amount and its currency come together or not at all: either both,
/// or neither (absent or `null`).
fn pair_money(document: &mut Value, schema: &str, amount: &str) {
    let target = &mut document["components"]["schemas"][schema];
    if target.is_null() {
        return;
    }
    target["anyOf"] = json!([
        {
            "required": [amount, "currency"],
            "properties": {
                amount: { "type": "integer" },
                "currency": { "type": "string" },
            },
        },
        { "properties": { amount: { "type": "null" }, "currency": { "type": "null" } } },
    ]);
}

/// A filing's amount (or a standing approval's limit), as this
/// installation takes it: in a category that moves money, an amount in one
/// of the accepted currencies up to that currency's peer limit; in any
/// other category, that or none at all.
fn describe_filing_money(document: &mut Value, policy: &ApprovalPolicy, schema: &str, amount: &str) {
    let target = &mut document["components"]["schemas"][schema];
    if target.is_null() {
        return;
    }
    let mut branches: Vec<Value> = policy
        .peer_limits
        .iter()
        .map(|(currency, limit)| {
            json!({
                "required": [amount, "currency"],
                "properties": {
                    amount: { "type": "integer", "maximum": limit },
                    "currency": { "const": currency },
                },
            })
        })
        .collect();
    if policy.peer_limits.is_empty() {
        branches.push(json!({
            "required": [amount, "currency"],
            "properties": { amount: { "type": "integer" }, "currency": { "type": "string" } },
        }));
    }
    let without_money: Vec<&str> = policy
        .categories
        .iter()
        .filter(|c| !c.moves_money)
        .map(|c| c.name.as_str())
        .collect();
    if !without_money.is_empty() {
        branches.push(json!({
            "properties": {
                "category": { "enum": without_money },
                amount: { "type": "null" },
                "currency": { "type": "null" },
            },
        }));
    }
    target["anyOf"] = json!(branches);
}

fn problem_content() -> Value {
    json!({ PROBLEM_CONTENT_TYPE: { "schema": { "$ref": "#/components/schemas/Problem" } } })
}

/// Every status an operation can answer, from what it takes: every route
/// has the timeout, body limit and internal-error answers; `/v1` adds
/// malformed requests, authentication, refusals and the database being
/// unavailable; a path id, a body or a query string each add theirs.
/// Problems are problem+json.
fn complete_responses(path: &str, operation: &mut Map<String, Value>) {
    let has_body = operation.contains_key("requestBody");
    let has_query = operation
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|parameters| parameters.iter().any(|p| p["in"] == "query"));
    let mut statuses = vec![
        ProblemType::Timeout,
        ProblemType::PayloadTooLarge,
        ProblemType::Internal,
    ];
    if path.starts_with("/v1/") {
        statuses.extend([
            ProblemType::BadRequest,
            ProblemType::Unauthorized,
            ProblemType::RoleRequired,
            ProblemType::RateLimited,
            ProblemType::Unavailable,
        ]);
    }
    if path.contains('{') {
        statuses.push(ProblemType::NotFound);
    }
    if has_body {
        statuses.extend([ProblemType::UnsupportedMediaType, ProblemType::Validation]);
    }
    if has_query {
        statuses.push(ProblemType::Validation);
    }
    let responses = operation
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    for kind in statuses {
        responses
            .entry(kind.status().as_str().to_owned())
            .or_insert_with(|| json!({ "description": describe_status(kind) }));
    }
    for (code, response) in responses.iter_mut() {
        let is_problem = code.starts_with('4') || code.starts_with('5');
        // Readiness answers its own document, also when not ready.
        let own_body = path == "/readyz" && code == "503";
        if is_problem && !own_body {
            response["content"] = problem_content();
        }
    }
}

/// The general meaning of a status, for responses the handler did not describe.
fn describe_status(kind: ProblemType) -> &'static str {
    match kind {
        ProblemType::BadRequest => {
            "malformed: a path id that is not a UUID, JSON that does not parse, a header that is not text"
        }
        ProblemType::RoleRequired => "the caller may not do this (the problem `type` says why)",
        ProblemType::NotFound => "no such resource",
        ProblemType::Validation => "fields or parameters are missing, malformed or out of range (`errors` names each)",
        other => other.meaning(),
    }
}

/// The body `POST /v1/proposals/preview` takes.
const PREVIEWED_FILING: &str = "PreviewedFiling";

/// The preview takes a filing's fields and judges them by the policy
/// itself: what filing would refuse for a rule (an unknown category or
/// currency, a missing amount, one above the peer limit) it answers 200
/// with `allowed: false` and the refusal. So its body is a filing's shape
/// (lengths, texts, amount with currency) without the policy's enums and
/// limits, which the filing's own body carries (the fuzzer sent the preview
/// an unknown category, answered 200 as designed, against a body that
/// listed the categories). Run before the policy is described.
fn previewed_filing_without_policy(document: &mut Value) {
    let filing = document["components"]["schemas"]["CreateProposal"].clone();
    if filing.is_null() {
        return;
    }
    document["components"]["schemas"][PREVIEWED_FILING] = filing;
    document["paths"]["/v1/proposals/preview"]["post"]["requestBody"]["content"]["application/json"]["schema"] =
        json!({ "$ref": format!("#/components/schemas/{PREVIEWED_FILING}") });
}

/// A chain link named by two query parameters (`anchor_seq` and
/// `anchor_hash`, `resume_seq` and `resume_hash`) comes whole or not at
/// all: one query object of two properties, both required, exploded into
/// two parameters.
fn pair_link_parameters(document: &mut Value, pair: &str, description: &str) {
    let Some(parameters) = document["paths"]["/v1/audit/verify"]["get"]["parameters"].as_array_mut() else {
        return;
    };
    let mut properties = Map::new();
    parameters.retain(|parameter| {
        let name = parameter["name"].as_str().unwrap_or("");
        if parameter["in"] == "query" && name.strip_prefix(pair).is_some_and(|rest| rest.starts_with('_')) {
            let mut schema = parameter["schema"].clone();
            // Inside the pair neither may be null.
            if let Some(kinds) = schema["type"].as_array() {
                let kind = kinds.iter().find(|kind| *kind != "null").cloned();
                schema["type"] = kind.unwrap_or(Value::Null);
            }
            if let Some(description) = parameter.get("description") {
                schema["description"] = description.clone();
            }
            properties.insert(name.to_owned(), schema);
            false
        } else {
            true
        }
    });
    if properties.is_empty() {
        return;
    }
    let names: Vec<String> = properties.keys().cloned().collect();
    parameters.push(json!({
        "name": pair,
        "in": "query",
        "required": false,
        "style": "form",
        "explode": true,
        "description": description,
        "schema": {
            "type": "object",
            "properties": properties,
            "required": names,
            "additionalProperties": false,
        },
    }));
}

/// The categories and currencies this installation accepts, as enums, so a
/// client (or a fuzzer) knows them without a refusal.
fn describe_policy(document: &mut Value, policy: &ApprovalPolicy) {
    let categories: Vec<&str> = policy.categories.iter().map(|c| c.name.as_str()).collect();
    let money: Vec<&str> = policy
        .categories
        .iter()
        .filter(|c| c.moves_money)
        .map(|c| c.name.as_str())
        .collect();
    let currencies: Vec<&str> = policy.peer_limits.keys().map(String::as_str).collect();
    for schema in ["CreateProposal", "ReviseProposal", "CreateStandingApproval"] {
        let properties = &mut document["components"]["schemas"][schema]["properties"];
        if properties.is_null() {
            continue;
        }
        properties["category"]["enum"] = json!(categories);
        properties["category"]["description"] = json!(format!(
            "One of the configured categories. These move money and need `amount_minor` + `currency`: {}.",
            money.join(", ")
        ));
        if !currencies.is_empty() {
            let mut accepted = json!(currencies);
            accepted.as_array_mut().expect("an array").push(Value::Null);
            properties["currency"]["enum"] = accepted;
            properties["currency"]["description"] = json!(format!(
                "ISO 4217; accepted here: {}. Peers approve up to the configured limit per currency.",
                currencies.join(", ")
            ));
        }
    }
}
