//! Header guessing, mappings, cell readers and whole-file checks.

use keel_platform::AppError;

use crate::store::LabeledValue;

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn problems(err: AppError) -> Vec<(String, String)> {
    match err {
        AppError::Validation(errors) => errors.into_iter().map(|e| (e.field, e.message)).collect(),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[test]
fn headers_of_other_tools_are_guessed() {
    let headers = strings(&[
        "Title",
        "First Name",
        "Last Name",
        "E-mail 1 - Type",
        "E-mail 1 - Value",
        "E-mail Address",
        "Phone 1 - Value",
        "Mobile Phone",
        "Organization 1 - Name",
        "Job Title",
        "Web Page",
        "Labels",
        "Birthday",
        "Notes",
        "Middle Name",
        "cadence_days",
        "last_interaction_at",
    ]);
    let guessed: Vec<&str> = guess_all(&headers).iter().map(|f| f.as_str()).collect();
    assert_eq!(
        guessed,
        [
            "ignore",
            "given_name",
            "family_name",
            "ignore",
            "emails",
            "emails",
            "phones",
            "phones",
            "company",
            "title",
            "website",
            "tags",
            "birthday",
            "notes",
            "ignore",
            "cadence_days",
            "ignore"
        ]
    );
    assert_eq!(guess("Full Name"), Field::DisplayName);
    assert_eq!(guess("SURNAME"), Field::FamilyName);
    assert_eq!(guess("Work Email"), Field::Emails);
    assert_eq!(guess("Favourite colour"), Field::Ignore);
}

#[test]
fn labeled_values_read_what_the_export_writes() {
    let phones: Vec<LabeledValue> =
        labeled_values("+1 (555) 010-2000 (mobile); 555 0100 (22);(030) 1234", true).collect();
    assert_eq!(
        phones
            .iter()
            .map(|p| (p.value.as_str(), p.label.as_str()))
            .collect::<Vec<_>>(),
        [
            ("+1 (555) 010-2000", "mobile"),
            ("555 0100 (22)", ""),
            ("(030) 1234", "")
        ]
    );
    let emails: Vec<LabeledValue> =
        labeled_values("a@example.com (work; old (2019)); b@example.com", false).collect();
    assert_eq!(emails[0].label, "work; old (2019)");
    assert_eq!(emails[1].value, "b@example.com");
    let tags: Vec<String> = tag_values("Friends, climbing;* myContacts ::: Work").collect();
    assert_eq!(tags, ["Friends", "climbing", "myContacts", "Work"]);
}

#[test]
fn rows_are_checked_all_at_once() {
    let csv = "Name,Email,Cadence\nAda,ada@example.com,30\n,nobody@example.com,\nBob,bob@,x\nCy,c@example.com\n";
    let mapping = strings(&["display_name", "emails", "cadence_days"]);
    let found = problems(plan(csv.as_bytes(), Some(&mapping)).err().unwrap());
    let fields: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(fields, ["row 3", "row 4", "row 4", "row 5"]);
    assert!(
        found[1]
            .1
            .starts_with("cadence_days: must be a whole number")
    );
    assert_eq!(
        found[2].1,
        "emails: must be an e-mail address like name@example.com (“bob@”)"
    );
    assert_eq!(found[3].1, "has 2 cells, the header has 3");
}

#[test]
fn mappings_are_checked() {
    let csv = "\u{feff}Name,Mail,Other\nAda,ada@example.com,x\n".as_bytes();
    let found = problems(
        plan(csv, Some(&strings(&["display_name", "emails"])))
            .err()
            .unwrap(),
    );
    assert_eq!(found[0].0, "mapping");
    let found = problems(
        plan(
            csv,
            Some(&strings(&["display_name", "emial", "display_name"])),
        )
        .err()
        .unwrap(),
    );
    let fields: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(fields, ["mapping[1]", "mapping[2]"]);
    let ok = plan(csv, Some(&strings(&["Display Name", "emails", ""]))).unwrap();
    assert_eq!(ok.contacts[0].1.emails[0].value, "ada@example.com");
    assert_eq!(
        ok.mapping[0].column, "Name",
        "the byte order mark is dropped"
    );
    let found = problems(plan(b"Colour\nred\n", None).err().unwrap());
    assert_eq!(found[0].0, "mapping");
}

#[test]
fn bad_files_name_the_file() {
    for bytes in [&b""[..], b"Name\n\xff\xfe\n"] {
        let found = problems(plan(bytes, None).err().unwrap());
        assert_eq!(found[0].0, "file");
    }
    let mut big = String::from("Name\n");
    for i in 0..=MAX_ROWS {
        big.push_str(&format!("n{i}\n"));
    }
    let found = problems(plan(big.as_bytes(), None).err().unwrap());
    assert!(found[0].1.contains("more than 50000 rows"), "{found:?}");
}
