//! MindfulCRM CSV contact import over HTTP on SQLite and PostgreSQL: our own export read back
//! field for field, another tool's file with the guessed mapping, explicit mappings, all or
//! nothing with every problem by row, the dry run's preview, and the contacts page's mapping
//! step.

mod common;

use common::{Answer, Api, Backend, TestApp, field_names, get, post, send};
use serde_json::{Value, json};

on_both_backends!(
    our_csv_export_reads_back_field_for_field_into_another_account,
    a_foreign_csv_imports_with_the_guessed_mapping,
    an_explicit_mapping_reads_columns_as_told,
    bad_rows_files_and_mappings_are_refused_and_nothing_is_written,
    a_dry_run_previews_twenty_rows_and_writes_nothing,
    the_contacts_page_maps_previews_and_imports_a_csv,
);

/// Every field a CSV carries.
const FIELDS: &[&str] = &[
    "given_name",
    "family_name",
    "display_name",
    "company",
    "title",
    "birthday",
    "website",
    "links",
    "stage",
    "cadence_days",
    "emails",
    "phones",
    "addresses",
    "tags",
    "notes",
];

/// POSTs a CSV body to the import endpoint; the status and the JSON answer.
async fn import(
    app: &TestApp,
    client: &reqwest::Client,
    query: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let answer = app
        .api(client)
        .header("content-type", "text/csv")
        .post_body(&format!("/api/v1/crm/import/csv{query}"), body)
        .await;
    (answer.status, answer.body)
}

async fn export(app: &TestApp, client: &reqwest::Client) -> String {
    app.api(client)
        .page("/api/v1/crm/export/contacts.csv")
        .await
}

/// Every contact of a user (archived ones too), in full, by display name.
async fn all_contacts(app: &TestApp, client: &reqwest::Client) -> Vec<Value> {
    let mut ids = Vec::new();
    for query in ["limit=200", "limit=200&stage=archived"] {
        let page = get(app, client, &format!("/api/v1/crm/contacts?{query}")).await;
        for c in page["contacts"].as_array().unwrap() {
            ids.push(c["id"].as_i64().unwrap());
        }
    }
    let mut contacts = Vec::new();
    for id in ids {
        contacts.push(get(app, client, &format!("/api/v1/crm/contacts/{id}")).await);
    }
    contacts.sort_by_key(|c| c["display_name"].as_str().unwrap().to_string());
    contacts
}

/// The field an import answer maps each column to, in column order.
fn mapped_fields(answer: &Value) -> Vec<&str> {
    answer["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["field"].as_str().unwrap())
        .collect()
}

fn only_fields(contact: &Value) -> Value {
    Value::Object(
        FIELDS
            .iter()
            .map(|k| (k.to_string(), contact[*k].clone()))
            .collect(),
    )
}

/// A CSV file without the columns that differ between accounts (ids and times).
fn without_ids_and_times(csv: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    let keep: Vec<usize> = rows[0]
        .iter()
        .enumerate()
        .filter(|(_, h)| !["id", "last_interaction_at", "created_at"].contains(h))
        .map(|(i, _)| i)
        .collect();
    rows.iter()
        .map(|r| keep.iter().map(|i| r[*i].to_string()).collect())
        .collect()
}

async fn our_csv_export_reads_back_field_for_field_into_another_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let originals = [
        json!({
            "given_name": "Zoë", "family_name": "O'Neil", "display_name": "Zoë O'Neil",
            "company": "Acme, Inc.", "title": "Head of \"Special\" Projects", "birthday": "1990-02-28",
            "website": "https://zoe.example/?a=1,2&b=\"x\"", "stage": "close", "cadence_days": 30,
            "emails": [{"value": "zoe@example.com", "label": "work"}, {"value": "z@home.example", "label": ""}],
            "phones": [{"value": "+1 (555) 010-2000", "label": "mobile"}, {"value": "030 1234", "label": "office; 2nd floor (back)"}],
            "tags": ["climbing", "friends", "zürich"],
            "addresses": [{"label": "work (main)", "street": "Bahnhofstrasse 1", "locality": "Zürich", "region": "", "postal_code": "8001", "country": "CH"}],
            "links": [{"value": "https://github.com/zoe", "label": "github"}, {"value": "https://zoe.example/x;y", "label": ""}],
            "notes": "Met at \"RustConf\", 2024.\nLikes: tea; cake\n\n  Second paragraph ✓, with a comma"
        }),
        json!({
            "given_name": "小龙", "family_name": "李", "display_name": "李小龙",
            "birthday": "--11-27", "stage": "archived",
            "phones": [{"value": "555 0100 (22)", "label": ""}],
            "notes": "Windows line breaks\r\nstay as they are"
        }),
        json!({"display_name": "Plain Person"}),
        json!({
            "given_name": "Ada", "family_name": "Lovelace", "stage": "prospect", "cadence_days": 3650,
            "emails": [{"value": "ada@example.com", "label": "home (old)"}],
            "tags": ["math"], "company": "=SUM(A1)", "website": "ada.example"
        }),
    ];
    for body in &originals {
        post(&app, c, "/api/v1/crm/contacts", body.clone()).await;
    }
    let csv = export(&app, c).await;
    let mine = all_contacts(&app, c).await;
    assert_eq!(mine.len(), 4);

    let (_, bob) = app.member("bob@example.com").await;
    let (status, dry) = import(&app, &bob, "?dry_run=true", csv.clone()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (dry["dry_run"].clone(), dry["contacts"].clone()),
        (json!(true), json!(4))
    );
    let mapping: Vec<(String, String)> = dry["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["column"].as_str().unwrap().to_string(),
                m["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (column, field) in &mapping {
        let expected = match column.as_str() {
            "id" | "last_interaction_at" | "created_at" => "ignore",
            other => other,
        };
        assert_eq!(field, expected, "{column} maps to itself");
    }
    assert_eq!(mapping.len(), 18);
    assert!(
        all_contacts(&app, &bob).await.is_empty(),
        "a dry run writes nothing"
    );

    let (status, done) = import(&app, &bob, "", csv.clone()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["contacts"], 4);
    assert_eq!(done["dry_run"], false);
    let theirs = all_contacts(&app, &bob).await;
    assert_eq!(theirs.len(), 4);
    for (a, b) in mine.iter().zip(&theirs) {
        assert_eq!(only_fields(a), only_fields(b), "field for field");
    }
    assert_eq!(theirs[3]["notes"], originals[1]["notes"]);
    assert_eq!(
        theirs[2]["phones"], originals[0]["phones"],
        "labels with ; and ( )"
    );
    // And the new account's export is the same file, but for ids and times.
    assert_eq!(
        without_ids_and_times(&export(&app, &bob).await),
        without_ids_and_times(&csv)
    );
    app.stop().await;
}

async fn a_foreign_csv_imports_with_the_guessed_mapping(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    // Users' default cadence is not applied: the file has none.
    let (status, _) = send(
        c,
        &app,
        reqwest::Method::PUT,
        "/api/v1/crm/settings",
        Some(json!({"time_zone": "UTC", "default_cadence_days": 14})),
    )
    .await;
    assert_eq!(status, 200);
    // Shaped like a Google Contacts export: byte order mark, CR LF, numbered columns.
    let csv = "\u{feff}Name,Given Name,Family Name,Nickname,Birthday,Notes,Labels,E-mail 1 - Type,E-mail 1 - Value,E-mail 2 - Type,E-mail 2 - Value,Phone 1 - Type,Phone 1 - Value,Phone 2 - Type,Phone 2 - Value,Organization 1 - Name,Organization 1 - Title,Website 1 - Type,Website 1 - Value\r\n\
        Grace Hopper,Grace,Hopper,Amazing Grace,1906-12-09,\"Wrote the first compiler.\r\nNavy.\",* myContacts ::: Navy ::: Friends,* Work,GRACE@navy.example,Home,grace@home.example,Mobile,+1 555 0100,Work,+1 555 0199,US Navy,Rear Admiral,Profile,https://navy.example/grace\r\n\
        ,Alan,Turing,,--06-23,,Friends,,alan@example.com,,,,,,,,,,\r\n";
    let (status, dry) = import(&app, c, "?dry_run=true", csv).await;
    assert_eq!(status, 200, "{dry}");
    let fields = mapped_fields(&dry);
    assert_eq!(
        fields,
        [
            "display_name",
            "given_name",
            "family_name",
            "ignore",
            "birthday",
            "notes",
            "tags",
            "ignore",
            "emails",
            "ignore",
            "emails",
            "ignore",
            "phones",
            "ignore",
            "phones",
            "company",
            "title",
            "ignore",
            "website"
        ]
    );
    assert_eq!(
        dry["mapping"][0]["column"], "Name",
        "byte order mark dropped"
    );
    let (status, done) = import(&app, c, "", csv).await;
    assert_eq!(
        (status, done["contacts"].clone()),
        (200, json!(2)),
        "{done}"
    );
    let contacts = all_contacts(&app, c).await;
    let alan = &contacts[0];
    assert_eq!(alan["display_name"], "Alan Turing", "made from the names");
    assert_eq!(alan["birthday"], "--06-23");
    assert_eq!(alan["tags"], json!(["friends"]));
    let grace = &contacts[1];
    assert_eq!(
        only_fields(grace),
        json!({
            "given_name": "Grace", "family_name": "Hopper", "display_name": "Grace Hopper",
            "company": "US Navy", "title": "Rear Admiral", "birthday": "1906-12-09",
            "website": "https://navy.example/grace", "stage": "new", "cadence_days": null,
            "emails": [{"value": "grace@navy.example", "label": ""}, {"value": "grace@home.example", "label": ""}],
            "phones": [{"value": "+1 555 0100", "label": ""}, {"value": "+1 555 0199", "label": ""}],
            "tags": ["friends", "mycontacts", "navy"],
            "addresses": [], "links": [],
            "notes": "Wrote the first compiler.\r\nNavy."
        })
    );
    app.stop().await;
}

async fn an_explicit_mapping_reads_columns_as_told(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let csv = "Who,Where,Reach,Reach too,Call,Groups,Name\n\
        Ada Lovelace,Analytical Engines,ada@example.com (work),a@home.example; b@home.example,+44 20 7946 0000 (desk),math;history,not a name\n";
    let (status, done) = import(
        &app,
        c,
        "?mapping=display_name,%20Company,emails,emails,phones,tags,ignore",
        csv,
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let fields = mapped_fields(&done);
    assert_eq!(
        fields,
        [
            "display_name",
            "company",
            "emails",
            "emails",
            "phones",
            "tags",
            "ignore"
        ]
    );
    let contacts = all_contacts(&app, c).await;
    assert_eq!(contacts.len(), 1);
    let ada = &contacts[0];
    assert_eq!(ada["display_name"], "Ada Lovelace");
    assert_eq!(ada["company"], "Analytical Engines");
    assert_eq!(
        ada["emails"],
        json!([
            {"value": "ada@example.com", "label": "work"},
            {"value": "a@home.example", "label": ""},
            {"value": "b@home.example", "label": ""}
        ])
    );
    assert_eq!(
        ada["phones"],
        json!([{"value": "+44 20 7946 0000", "label": "desk"}])
    );
    assert_eq!(ada["tags"], json!(["history", "math"]));
    assert_eq!(ada["notes"], "", "the ignored column is nowhere");
    app.stop().await;
}

async fn bad_rows_files_and_mappings_are_refused_and_nothing_is_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let csv = "display_name,emails,birthday,stage,cadence_days,phones\n\
        Fine Person,fine@example.com,,,,\n\
        Bad Mail,not-an-address,,,,\n\
        ,nameless@example.com,,,,\n\
        Bad Dates,,1990-13-01,friend,0,\n\
        \"Ragged, Row\",x@example.com\n\
        Bad Phone,,,,soon,call me\n";
    let (status, problem) = import(&app, c, "", csv).await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(
        field_names(&problem),
        [
            "row 3", "row 4", "row 5", "row 5", "row 5", "row 6", "row 7", "row 7"
        ]
    );
    let messages: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        messages[0].starts_with("emails: must be an e-mail address like name@example.com"),
        "{messages:?}"
    );
    assert!(messages[0].contains("not-an-address"));
    assert!(messages[1].starts_with("display_name: a contact needs a name"));
    assert!(messages[2].starts_with("birthday: "));
    assert!(messages[3].starts_with("stage: must be one of"));
    assert_eq!(messages[4], "cadence_days: must be between 1 and 3650 days");
    assert_eq!(messages[5], "has 2 cells, the header has 6");
    assert!(messages[6].starts_with("cadence_days: must be a whole number of days"));
    assert!(messages[7].starts_with("phones: must be a phone number"));
    // The same file as a dry run is refused the same way.
    let (status, dry) = import(&app, c, "?dry_run=true", csv).await;
    assert_eq!((status, field_names(&dry)), (422, field_names(&problem)));
    assert!(all_contacts(&app, c).await.is_empty(), "all or nothing");

    let good = "Name,Email,Note\nAda,ada@example.com,hi\n";
    for (query, field) in [
        ("?mapping=display_name,emails", "mapping"),
        ("?mapping=display_name,emial,notes", "mapping[1]"),
        ("?mapping=display_name,emails,display_name", "mapping[2]"),
        ("?mapping=ignore,emails,notes", "mapping"),
        ("?dry_run=maybe", "dry_run"),
    ] {
        let (status, problem) = import(&app, c, query, good).await;
        assert_eq!(
            (status, field_names(&problem)),
            (422, vec![field.to_string()]),
            "{query}: {problem}"
        );
    }
    let (_, problem) = import(&app, c, "?mapping=display_name,emial,notes", good).await;
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("“emial”") && message.contains("“Email”"),
        "{message}"
    );
    let (_, problem) = import(&app, c, "?mapping=display_name,emails,display_name", good).await;
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("already read from column 1 “Name”"),
        "{message}"
    );

    // Files that are not CSV text with a header.
    let mut big = String::from("Name\n");
    for i in 0..=50_000 {
        big.push_str(&format!("p{i}\n"));
    }
    for body in [
        b"".to_vec(),
        b"Name,Notes\nJos\xe9,caf\xe9\n".to_vec(),
        big.into_bytes(),
    ] {
        let (status, problem) = import(&app, c, "", body).await;
        assert_eq!(
            (status, field_names(&problem)),
            (422, vec!["file".to_string()]),
            "{problem}"
        );
    }
    // A header alone is a valid, empty import.
    let (status, done) = import(&app, c, "", "Name,Email\n").await;
    assert_eq!((status, done["contacts"].clone()), (200, json!(0)));
    assert!(all_contacts(&app, c).await.is_empty());
    app.stop().await;
}

async fn a_dry_run_previews_twenty_rows_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = &app.client;
    let mut csv = String::from("First Name,Last Name,Company,E-mail,Phone,Tags\n");
    for i in 1..=25 {
        csv.push_str(&format!(
            "Person,{i:02},Firm {i},P{i}@Example.com (work),+1 555 01{i:02},\"Team, VIP\"\n"
        ));
    }
    // An empty line and a row of empty cells are skipped, not refused.
    csv.push_str("\n,,,,,\n");
    let (status, dry) = import(&app, c, "?dry_run=true", csv.clone()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["contacts"], 25);
    let preview = dry["preview"].as_array().unwrap();
    assert_eq!(preview.len(), 20);
    assert_eq!(
        preview[0],
        json!({
            "row": 2, "display_name": "Person 01", "company": "Firm 1",
            "emails": [{"value": "p1@example.com", "label": "work"}],
            "phones": [{"value": "+1 555 0101", "label": ""}],
            "tags": ["team", "vip"]
        })
    );
    assert_eq!(preview[19]["row"], 21);
    assert!(all_contacts(&app, c).await.is_empty());
    let (status, done) = import(&app, c, "", csv).await;
    assert_eq!(status, 200);
    assert_eq!(done["preview"], json!([]), "only a dry run previews");
    assert_eq!(all_contacts(&app, c).await.len(), 25);

    // Documented: a text/csv body, the two query parameters, the outcome and the problem.
    let doc = get(&app, c, "/api/openapi.json").await;
    let op = &doc["paths"]["/api/v1/crm/import/csv"]["post"];
    assert!(op["requestBody"]["content"]["text/csv"].is_object(), "{op}");
    let params: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(params, ["dry_run", "mapping"]);
    assert!(op["responses"]["200"].is_object() && op["responses"]["422"].is_object());
    assert!(doc["components"]["schemas"]["CsvImportOutcome"].is_object());
    app.stop().await;
}

/// What a browser does with an HTML-escaped form value (named and numeric references).
fn unescape(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest.find(';').expect("a complete reference");
        let entity = &rest[1..end];
        let decoded = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let number = entity.strip_prefix('#').expect("a known reference");
                let code = match number.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
                    None => number.parse().unwrap(),
                };
                char::from_u32(code).unwrap()
            }
        };
        out.push(decoded);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The CSV text the mapping page carries, as a browser would send it back.
fn carried_csv(page: &str) -> String {
    let start = page
        .find("<textarea name=\"csv\"")
        .expect("the file is in the page");
    let open = start + page[start..].find('>').unwrap() + 1;
    let close = open + page[open..].find("</textarea>").unwrap();
    let text = unescape(&page[open..close]);
    // The parser drops the line break right after the tag; browsers send CR LF line breaks.
    let text = text.strip_prefix('\n').unwrap_or(&text);
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

fn hidden_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).expect("hidden input") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    unescape(&page[start..end])
}

/// Sends the mapping step's form back with these column choices and button.
async fn post_mapping(
    c: &Api<'_>,
    csv: &str,
    line_endings: &str,
    mapping: &[&str],
    action: &str,
) -> Answer {
    let mut form = reqwest::multipart::Form::new()
        .text("csv", csv.to_string())
        .text("file_name", "people.csv")
        .text("line_endings", line_endings.to_string());
    for field in mapping {
        form = form.text("mapping", field.to_string());
    }
    form = form.text("action", action.to_string());
    c.multipart("/crm/contacts/import/csv", form).await
}

/// A file for the contacts page's upload form.
fn upload(part: reqwest::multipart::Part, name: &str) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new().part("file", part.file_name(name.to_string()))
}

/// The file of the contacts-page test, in another tool's words, and the mapping the page
/// should guess for it.
const PEOPLE: &str = "Full Name,E-mail Address,Organization,Labels,Notes,Shoe size\n\
    Ada Lovelace,ada@example.com (work),Engines & Co,\"math, poetry\",\"First line\nsecond line <b>\",42\n\
    Bob O'Brien,bob@example.com,,friends,,44\n";
const PEOPLE_MAPPING: [&str; 6] = [
    "display_name",
    "emails",
    "company",
    "tags",
    "notes",
    "ignore",
];

async fn the_contacts_page_maps_previews_and_imports_a_csv(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.setup_admin().await;
    let c = app.admin_api();
    let (carried, line_endings) = the_upload_shows_the_mapping_step(&c).await;
    the_preview_shows_the_contacts_and_writes_nothing(&app, &c, &carried, &line_endings).await;
    mapping_and_row_problems_are_shown_and_write_nothing(&app, &c, &carried, &line_endings).await;
    the_import_lands_on_the_list_with_a_notice(&app, &c, &carried, &line_endings).await;
    other_uploads_take_their_own_paths(&app, &c).await;
    app.stop().await;
}

/// The upload answers the mapping step: columns, guesses, and the file carried in the form.
/// Returns the carried file and its line endings.
async fn the_upload_shows_the_mapping_step(c: &Api<'_>) -> (String, String) {
    let page = c
        .multipart(
            "/crm/contacts/import",
            upload(reqwest::multipart::Part::text(PEOPLE), "people.csv"),
        )
        .await
        .expect(200)
        .text;
    for expected in [
        "Import contacts from CSV",
        "people.csv",
        "2 rows, 6 columns",
        "Full Name",
        "E-mail Address",
        "Shoe size",
        "<span class=\"badge\">Bob O&#39;Brien</span>",
        "<option value=\"display_name\" selected>",
        "<option value=\"emails\" selected>",
        "<option value=\"company\" selected>",
        "<option value=\"tags\" selected>",
        "<option value=\"notes\" selected>",
        "Preview (dry run)",
        "value=\"import\"",
    ] {
        assert!(
            page.contains(expected),
            "mapping page lacks {expected}: {page}"
        );
    }
    assert_eq!(
        page.matches(" selected>").count(),
        6,
        "one choice per column"
    );
    assert!(
        page.contains("<option value=\"ignore\" selected>"),
        "Shoe size is ignored"
    );
    let carried = carried_csv(&page);
    assert_eq!(
        carried,
        PEOPLE.replace('\n', "\r\n"),
        "the file travels in the form"
    );
    let line_endings = hidden_value(&page, "line_endings");
    assert_eq!(line_endings, "lf");
    (carried, line_endings)
}

/// Preview: the table of contacts as they would be stored; nothing written.
async fn the_preview_shows_the_contacts_and_writes_nothing(
    app: &TestApp,
    c: &Api<'_>,
    carried: &str,
    line_endings: &str,
) {
    let page = post_mapping(c, carried, line_endings, &PEOPLE_MAPPING, "preview")
        .await
        .expect(200)
        .text;
    for expected in [
        "The file is fine: importing it would add 2 contacts. Nothing was written.",
        "<td>Ada Lovelace</td>",
        "ada@example.com <span class=\"muted\">(work)</span>",
        "<td>Engines &#38; Co</td>",
        "<span class=\"badge\">poetry</span>",
        "<td>Bob O&#39;Brien</td>",
    ] {
        assert!(page.contains(expected), "preview lacks {expected}: {page}");
    }
    assert!(all_contacts(app, &app.client).await.is_empty());
}

/// A mapping problem is shown at its column; row problems are listed; nothing written.
async fn mapping_and_row_problems_are_shown_and_write_nothing(
    app: &TestApp,
    c: &Api<'_>,
    carried: &str,
    line_endings: &str,
) {
    let twice = [
        "display_name",
        "emails",
        "display_name",
        "tags",
        "notes",
        "ignore",
    ];
    let page = post_mapping(c, carried, line_endings, &twice, "import")
        .await
        .expect(422)
        .text;
    assert!(page.contains("id=\"mapping-2-error\""), "{page}");
    assert!(page.contains("display_name for column 3"), "{page}");
    let nameless = [
        "notes",
        "company",
        "display_name",
        "ignore",
        "ignore",
        "ignore",
    ];
    let page = post_mapping(c, carried, line_endings, &nameless, "import")
        .await
        .expect(422)
        .text;
    assert!(
        page.contains("row 4: display_name: a contact needs a name"),
        "{page}"
    );
    assert!(all_contacts(app, &app.client).await.is_empty());
}

/// Import: back to the list with a notice.
async fn the_import_lands_on_the_list_with_a_notice(
    app: &TestApp,
    c: &Api<'_>,
    carried: &str,
    line_endings: &str,
) {
    let done = post_mapping(c, carried, line_endings, &PEOPLE_MAPPING, "import")
        .await
        .expect(303);
    let location = done.header("location");
    assert_eq!(location, "/crm/contacts?imported=2");
    let list = c.get(location).await.text;
    assert!(
        list.contains("Imported 2 contacts from the CSV file."),
        "{list}"
    );
    assert!(list.contains("Ada Lovelace") && list.contains("Bob O&#39;Brien"));
    let contacts = all_contacts(app, &app.client).await;
    assert_eq!(
        contacts[0]["notes"], "First line\nsecond line <b>",
        "line breaks kept"
    );
    assert_eq!(contacts[0]["tags"], json!(["math", "poetry"]));
    assert_eq!(contacts[0]["company"], "Engines & Co");
    assert_eq!(contacts[1]["emails"][0]["value"], "bob@example.com");
}

/// A URL-encoded post, a file that is not text, and vCards by name or content.
async fn other_uploads_take_their_own_paths(app: &TestApp, c: &Api<'_>) {
    // A URL-encoded post works too.
    c.form(
        "/crm/contacts/import/csv",
        &[
            ("csv", "Name\nCy\n"),
            ("mapping", "display_name"),
            ("action", "import"),
        ],
    )
    .await
    .expect(303);
    assert_eq!(all_contacts(app, &app.client).await.len(), 3);

    // A file the mapping step cannot read is refused on the contacts page.
    let broken = upload(
        reqwest::multipart::Part::bytes(b"Name\n\xff\n".to_vec()),
        "broken.csv",
    );
    let refused = c
        .multipart("/crm/contacts/import", broken)
        .await
        .expect(422);
    assert!(refused.text.contains("is not UTF-8 text"));

    // vCards still import at once, by name or by content.
    let vcard = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Dee Card\r\nEND:VCARD\r\n";
    for name in ["dee.vcf", "contacts.txt"] {
        let form = upload(reqwest::multipart::Part::text(vcard), name).text("dry_run", "1");
        let page = c.multipart("/crm/contacts/import", form).await.expect(200);
        assert!(
            page.text.contains("importing it would add 1 contacts"),
            "{name}"
        );
    }
}
