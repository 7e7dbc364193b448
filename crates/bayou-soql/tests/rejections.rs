//! Every refusal the PushTopic documentation lists, through the public API: the exact
//! `CODE, text` Salesforce sends and the position of the offending token.

use bayou_soql::{parse, SoqlError, INVALID_FIELD, MALFORMED_QUERY};

/// Parses, then applies the PushTopic rules.
fn pushtopic(query: &str) -> Result<(), SoqlError> {
    parse(query)?.validate_for_pushtopic()
}

/// Asserts the error's text and that it points at the first occurrence of `at`.
fn refused(query: &str, text: &str, at: &str) {
    match pushtopic(query) {
        Ok(()) => panic!("{query} was accepted"),
        Err(e) => {
            assert_eq!(e.to_string(), text, "{query}");
            assert_eq!(Some(e.position), query.find(at), "{}", e.describe(query));
        }
    }
}

#[test]
fn documented_pushtopic_refusals() {
    let cases = [
        (
            "SELECT Id FROM Account WHERE Id IN (SELECT AccountId FROM Contact)",
            "INVALID_FIELD, semi/anti join sub-selects are not supported",
            "SELECT AccountId",
        ),
        (
            "SELECT Id FROM Account WHERE Id NOT IN (SELECT AccountId FROM Contact)",
            "INVALID_FIELD, semi/anti join sub-selects are not supported",
            "SELECT AccountId",
        ),
        (
            "SELECT Id, AVG(Amount) FROM Opportunity",
            "INVALID_FIELD, Aggregate queries are not supported",
            "AVG",
        ),
        (
            "SELECT Id, Sum(Amount) FROM Opportunity",
            "INVALID_FIELD, Aggregate queries are not supported",
            "Sum",
        ),
        (
            "SELECT COUNT_DISTINCT(Name) FROM Account",
            "INVALID_FIELD, Aggregate queries are not supported",
            "COUNT_DISTINCT",
        ),
        (
            "SELECT Id, MIN(CreatedDate), MAX(CreatedDate) FROM Account",
            "INVALID_FIELD, Aggregate queries are not supported",
            "MIN",
        ),
        (
            "SELECT Id FROM Account GROUP BY Id",
            "INVALID_FIELD, Aggregate queries are not supported",
            "GROUP",
        ),
        (
            "SELECT Id FROM Account LIMIT 10",
            "INVALID_FIELD, 'LIMIT' is not allowed",
            "LIMIT",
        ),
        (
            "SELECT Id, Contact.Account.Name FROM Contact",
            "INVALID_FIELD, relationships are not supported",
            "Contact.Account",
        ),
        (
            "SELECT Id FROM Contact WHERE Account.Name = 'Acme'",
            "INVALID_FIELD, relationships are not supported",
            "Account.Name",
        ),
        (
            "SELECT Id FROM Account ORDER BY Name",
            "INVALID_FIELD, 'ORDER BY' clause is not allowed",
            "ORDER",
        ),
        (
            "SELECT Id FROM Account OFFSET 10",
            "INVALID_FIELD, 'OFFSET' clause is not allowed",
            "OFFSET",
        ),
        (
            "SELECT Id, TYPEOF What WHEN Account THEN Phone END FROM Event",
            "INVALID_FIELD, 'TYPEOF' clause is not allowed",
            "TYPEOF",
        ),
        (
            "SELECT Id FROM Account WHERE NOT Name = 'x'",
            "INVALID_FIELD, 'NOT' is not supported",
            "NOT",
        ),
        (
            "SELECT Name FROM Account",
            "INVALID_FIELD, SELECT clause must include Id",
            "Name",
        ),
    ];
    for (query, text, at) in cases {
        refused(query, text, at);
    }
}

#[test]
fn supported_pushtopic_queries() {
    for query in [
        "SELECT Id, Name, Status__c, Description__c FROM Invoice_Statement__c",
        "SELECT Id FROM Account WHERE Industry NOT IN ('Energy', 'Media')",
        "SELECT Id, Name FROM Account WHERE Name != 'x' AND (Amount > 5 OR Amount = null)",
        "SELECT Id FROM Case WHERE Subject LIKE '%urgent%' AND CreatedDate = LAST_N_DAYS:7",
        "SELECT Id FROM Contact WHERE AccountId = '001000000000001AAA'",
    ] {
        if let Err(e) = pushtopic(query) {
            panic!("{}", e.describe(query));
        }
    }
}

#[test]
fn the_same_text_is_a_fine_rest_query() {
    let q = parse("SELECT Id FROM Account ORDER BY Name LIMIT 10 OFFSET 20");
    assert!(q.is_ok());
}

#[test]
fn malformed_text_points_at_the_token() {
    let query = "SELECT Id FORM Account";
    let e = match parse(query) {
        Err(e) => e,
        Ok(q) => panic!("{q}"),
    };
    assert_eq!(e.code, MALFORMED_QUERY);
    assert_eq!(e.message, "unexpected token: 'FORM', expected ',' or FROM");
    assert_eq!(
        e.describe(query),
        "MALFORMED_QUERY, unexpected token: 'FORM', expected ',' or FROM at line 1 column 11\n\
         SELECT Id FORM Account\n          ^"
    );
    let e = match parse("SELECT Id FROM Account WHERE CreatedDate = LAST_QUARTER") {
        Err(e) => e,
        Ok(q) => panic!("{q}"),
    };
    assert_eq!(e.code, MALFORMED_QUERY);
    assert_eq!(e.message, "unknown date literal: 'LAST_QUARTER'");
    assert_eq!(e.position, 43);
    let too_deep = format!(
        "SELECT Id FROM A WHERE {}a = 1{}",
        "(".repeat(101),
        ")".repeat(101)
    );
    assert!(matches!(parse(&too_deep), Err(e) if e.code == MALFORMED_QUERY));
    assert_ne!(INVALID_FIELD, MALFORMED_QUERY);
}
