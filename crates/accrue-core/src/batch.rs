//! Loymax's batch balance operations: a back office sends accruals and write-offs it
//! computed elsewhere, as one JSON request or as a file of rows (CSV or JSON lines).
//! This reads them; amounts become minor units of the currency only when it is known.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The most rows one JSON request may carry; larger batches come as files.
pub const MAX_REQUEST_ROWS: usize = 10_000;
/// The most rows an all-or-nothing request may carry: it is one transaction.
pub const MAX_ATOMIC_ROWS: usize = 1_000;
const MAX_TEXT: usize = 500;

/// The four request types of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchType {
    /// 2: an accrual for purchases made elsewhere.
    Accrual,
    /// 3: the return of such an accrual (points taken back).
    Return,
    /// 4: a manual accrual.
    ManualAccrual,
    /// 5: a manual write-off.
    ManualWriteOff,
}

impl BatchType {
    pub fn from_code(code: i64) -> Option<BatchType> {
        match code {
            2 => Some(BatchType::Accrual),
            3 => Some(BatchType::Return),
            4 => Some(BatchType::ManualAccrual),
            5 => Some(BatchType::ManualWriteOff),
            _ => None,
        }
    }

    pub fn code(self) -> i64 {
        match self {
            BatchType::Accrual => 2,
            BatchType::Return => 3,
            BatchType::ManualAccrual => 4,
            BatchType::ManualWriteOff => 5,
        }
    }

    /// Whether rows of this type put points in (else they take points out).
    pub fn credits(self) -> bool {
        matches!(self, BatchType::Accrual | BatchType::ManualAccrual)
    }

    /// What a row says in the member's history when neither it nor its request does.
    pub fn default_description(self) -> &'static str {
        match self {
            BatchType::Accrual => "Начисление бонусов",
            BatchType::Return => "Возврат бонусов",
            BatchType::ManualAccrual => "Ручное начисление бонусов",
            BatchType::ManualWriteOff => "Ручное списание бонусов",
        }
    }
}

/// Whether a request is posted whole or row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every row posts or none does (up to [`MAX_ATOMIC_ROWS`] rows).
    #[default]
    AllOrNothing,
    /// Each row posts on its own; the ones that cannot are reported.
    RowByRow,
}

/// One row, as sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub member_no: String,
    pub description: Option<String>,
    /// `2013-08-14 12:26:14`, kept as sent: it is shown, not computed with.
    pub operation_date: Option<String>,
    pub merchant_name: Option<String>,
    pub transaction_amount: Option<Decimal>,
    /// `None` when it is missing or not a number: the row is refused as a bad amount.
    pub points_amount: Option<Decimal>,
}

/// A request's header and rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub request_id: String,
    pub kind: BatchType,
    pub description: Option<String>,
    pub currency: Option<String>,
    pub lifetime: Option<String>,
    pub mode: Mode,
    pub rows: Vec<Row>,
    /// SHA-256 of the request as parsed: the same request id with other content is refused.
    pub fingerprint: String,
}

/// Why a request was refused whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BatchError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, BatchError> {
    Err(BatchError(message.into()))
}

/// Reads a JSON request.
pub fn parse_request(body: &[u8]) -> Result<Request, BatchError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| BatchError(format!("the body is not JSON: {e}")))?;
    let Some(fields) = value.as_object() else {
        return refuse("the body must be a JSON object");
    };
    let request_id = text_field(fields.get("requestId"))
        .filter(|id| !id.trim().is_empty() && id.len() <= 100)
        .ok_or(BatchError("requestId is required (1 to 100 characters)".into()))?;
    let kind = fields
        .get("type")
        .and_then(Value::as_i64)
        .and_then(BatchType::from_code)
        .ok_or(BatchError("type must be 2, 3, 4 or 5".into()))?;
    let mode = match fields.get("mode") {
        None | Some(Value::Null) => Mode::default(),
        Some(m) => serde_json::from_value(m.clone())
            .map_err(|_| BatchError("mode must be all_or_nothing or row_by_row".into()))?,
    };
    let Some(rows) = fields.get("accrue").and_then(Value::as_array) else {
        return refuse("accrue must be a list of rows");
    };
    if rows.is_empty() || rows.len() > MAX_REQUEST_ROWS {
        return refuse(format!(
            "accrue must have 1 to {MAX_REQUEST_ROWS} rows; send more as a file"
        ));
    }
    if mode == Mode::AllOrNothing && rows.len() > MAX_ATOMIC_ROWS {
        return refuse(format!(
            "an all_or_nothing request has at most {MAX_ATOMIC_ROWS} rows; use row_by_row"
        ));
    }
    let rows = rows.iter().map(row_of).collect::<Result<Vec<_>, _>>()?;
    let header = Header {
        request_id,
        kind,
        description: short_text(fields.get("accrueDescription"), "accrueDescription")?,
        currency: short_text(fields.get("currencyExternalId"), "currencyExternalId")?,
        lifetime: short_text(
            fields.get("lifeTimeDefinitionExternalId"),
            "lifeTimeDefinitionExternalId",
        )?,
        mode,
    };
    Ok(header.with_rows(rows))
}

/// What a request says besides its rows (a file's comes with the upload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub request_id: String,
    pub kind: BatchType,
    pub description: Option<String>,
    pub currency: Option<String>,
    pub lifetime: Option<String>,
    pub mode: Mode,
}

impl Header {
    pub fn with_rows(self, rows: Vec<Row>) -> Request {
        let fingerprint = fingerprint(&self, &rows);
        Request {
            request_id: self.request_id,
            kind: self.kind,
            description: self.description,
            currency: self.currency,
            lifetime: self.lifetime,
            mode: self.mode,
            rows,
            fingerprint,
        }
    }
}

fn fingerprint(h: &Header, rows: &[Row]) -> String {
    let mut hash = Sha256::new();
    let head = (h.kind.code(), &h.description, &h.currency, &h.lifetime, h.mode);
    hash.update(serde_json::to_vec(&head).unwrap_or_default());
    for row in rows {
        hash.update(serde_json::to_vec(row).unwrap_or_default());
    }
    hex::encode(hash.finalize())
}

/// A row object: `memberNo`, `Description` (or `description`), `operationDate`,
/// `merchantName`, `transactionAmount`, `pointsAmount`; numbers as numbers or text.
pub fn row_of(value: &Value) -> Result<Row, BatchError> {
    let Some(f) = value.as_object() else {
        return refuse("each row must be an object");
    };
    let member_no = text_field(f.get("memberNo"))
        .filter(|m| !m.trim().is_empty() && m.len() <= 100)
        .ok_or(BatchError(
            "memberNo is required in every row (1 to 100 characters)".into(),
        ))?;
    Ok(Row {
        member_no: member_no.trim().to_string(),
        description: short_text(f.get("Description").or(f.get("description")), "Description")?,
        operation_date: short_text(f.get("operationDate"), "operationDate")?,
        merchant_name: short_text(f.get("merchantName"), "merchantName")?.map(|m| m.trim().to_string()),
        transaction_amount: f.get("transactionAmount").and_then(decimal),
        points_amount: f.get("pointsAmount").and_then(decimal),
    })
}

/// One line of a CSV file with the header
/// `memberNo,pointsAmount,description,operationDate,merchantName,transactionAmount`
/// (the first two required; fields may be quoted with `"`).
pub fn csv_row(columns: &[String], line: &str) -> Result<Row, BatchError> {
    let cells = csv_cells(line)?;
    let mut object = serde_json::Map::new();
    for (name, cell) in columns.iter().zip(cells) {
        if !cell.is_empty() {
            object.insert(name.clone(), Value::String(cell));
        }
    }
    row_of(&Value::Object(object))
}

/// The columns a CSV header names; `memberNo` and `pointsAmount` must be among them.
pub fn csv_columns(header: &str) -> Result<Vec<String>, BatchError> {
    const KNOWN: [&str; 7] = [
        "memberNo",
        "pointsAmount",
        "Description",
        "description",
        "operationDate",
        "merchantName",
        "transactionAmount",
    ];
    let columns = csv_cells(header.trim_start_matches('\u{feff}'))?;
    if let Some(unknown) = columns.iter().find(|c| !KNOWN.contains(&c.as_str())) {
        return refuse(format!("unknown column {unknown:?}; columns are {}", KNOWN.join(", ")));
    }
    if !(columns.iter().any(|c| c == "memberNo") && columns.iter().any(|c| c == "pointsAmount")) {
        return refuse("the header must name memberNo and pointsAmount");
    }
    Ok(columns)
}

/// The cells of a CSV line: `,` between them, `"` around a cell that holds one, `""`
/// for a quote inside.
pub(crate) fn csv_cells(line: &str) -> Result<Vec<String>, BatchError> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    while let Some(c) = chars.next() {
        let cell = cells.last_mut().expect("one cell at least");
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => cells.push(String::new()),
            (_, c) => cell.push(c),
        }
        if cells.iter().map(String::len).sum::<usize>() > 4 * MAX_TEXT {
            return refuse("a line is too long");
        }
    }
    if quoted {
        return refuse("a quoted cell is not closed");
    }
    Ok(cells.into_iter().map(|c| c.trim().to_string()).collect())
}

fn text_field(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn short_text(value: Option<&Value>, name: &str) -> Result<Option<String>, BatchError> {
    match text_field(value).filter(|t| !t.trim().is_empty()) {
        Some(t) if t.chars().count() > MAX_TEXT => refuse(format!("{name} has more than {MAX_TEXT} characters")),
        other => Ok(other),
    }
}

fn decimal(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(n) => n.to_string().parse().ok(),
        Value::String(s) => s.trim().replace(',', ".").parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"{
      "requestId": "123", "type": 2, "accrueDescription": "string",
      "currencyExternalId": "string", "lifeTimeDefinitionExternalId": "string",
      "accrue": [{"memberNo": "012345", "Description": "string", "operationDate": "2013-08-14 12:26:14",
                  "merchantName": " merchantName", "transactionAmount": 152246.54, "pointsAmount": 1522.46}]}"#;

    #[test]
    fn the_documents_example_reads() {
        let r = parse_request(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(
            (r.request_id.as_str(), r.kind, r.mode),
            ("123", BatchType::Accrual, Mode::AllOrNothing)
        );
        assert_eq!(r.lifetime.as_deref(), Some("string"));
        let row = &r.rows[0];
        assert_eq!(row.member_no, "012345");
        assert_eq!(row.merchant_name.as_deref(), Some("merchantName"));
        assert_eq!(row.points_amount, Some("1522.46".parse().unwrap()));
        assert_eq!(row.operation_date.as_deref(), Some("2013-08-14 12:26:14"));
    }

    #[test]
    fn the_same_request_has_the_same_fingerprint() {
        let a = parse_request(EXAMPLE.as_bytes()).unwrap();
        let b = parse_request(EXAMPLE.replace("1522.46", "1522.460").as_bytes()).unwrap();
        let c = parse_request(EXAMPLE.replace("1522.46", "1522.47").as_bytes()).unwrap();
        assert_eq!(a.fingerprint, parse_request(EXAMPLE.as_bytes()).unwrap().fingerprint);
        assert_ne!(a.fingerprint, c.fingerprint);
        assert_eq!(a.fingerprint, b.fingerprint, "the same amount written otherwise");
    }

    #[test]
    fn bad_requests_are_refused_whole() {
        assert!(parse_request(b"[]").is_err());
        assert!(parse_request(EXAMPLE.replace("\"type\": 2", "\"type\": 7").as_bytes()).is_err());
        assert!(parse_request(EXAMPLE.replace("\"123\"", "\"\"").as_bytes()).is_err());
        assert!(parse_request(br#"{"requestId": "1", "type": 2, "accrue": []}"#).is_err());
        assert!(parse_request(br#"{"requestId": "1", "type": 2, "accrue": [{"pointsAmount": 1}]}"#).is_err());
        let bad_mode = r#"{"requestId": "1", "type": 2, "mode": "some", "accrue": [{"memberNo": "1"}]}"#;
        assert!(parse_request(bad_mode.as_bytes()).is_err());
        let many: Vec<String> = (0..1001)
            .map(|i| format!(r#"{{"memberNo": "{i}", "pointsAmount": 1}}"#))
            .collect();
        let atomic = format!(r#"{{"requestId": "1", "type": 4, "accrue": [{}]}}"#, many.join(","));
        assert!(parse_request(atomic.as_bytes()).unwrap_err().0.contains("row_by_row"));
        let by_row = atomic.replace("\"type\": 4", "\"type\": 4, \"mode\": \"row_by_row\"");
        assert_eq!(parse_request(by_row.as_bytes()).unwrap().rows.len(), 1001);
    }

    #[test]
    fn a_bad_amount_is_the_rows_problem() {
        let body = r#"{"requestId": "1", "type": 5, "accrue": [{"memberNo": "1", "pointsAmount": "много"}]}"#;
        assert_eq!(parse_request(body.as_bytes()).unwrap().rows[0].points_amount, None);
    }

    #[test]
    fn csv_rows_read_with_quotes() {
        let columns = csv_columns("\u{feff}memberNo,pointsAmount,description,merchantName").unwrap();
        let row = csv_row(&columns, "79161234567,\"10,5\",\"Бонус за \"\"отзыв\"\"\",Shop\r\n").unwrap();
        assert_eq!(row.member_no, "79161234567");
        assert_eq!(row.points_amount, Some("10.5".parse().unwrap()));
        assert_eq!(row.description.as_deref(), Some("Бонус за \"отзыв\""));
        assert!(csv_columns("memberNo,amount").is_err());
        assert!(csv_columns("memberNo").is_err());
        assert!(csv_row(&columns, "1,\"2").is_err());
        assert!(csv_row(&columns, ",5").is_err(), "memberNo is required");
    }

    proptest! {
        #[test]
        fn csv_round_trips_member_numbers(member in "[0-9A-Za-z ,\"]{1,30}", points in 1_u32..1_000_000) {
            let quoted = format!("\"{}\"", member.replace('"', "\"\""));
            let columns = csv_columns("memberNo,pointsAmount").unwrap();
            let read = csv_row(&columns, &format!("{quoted},{points}"));
            if member.trim().is_empty() {
                prop_assert!(read.is_err());
            } else {
                let row = read.unwrap();
                prop_assert_eq!(row.member_no, member.trim());
                prop_assert_eq!(row.points_amount, Some(Decimal::from(points)));
            }
        }

        #[test]
        fn parsers_never_panic(body in ".{0,300}") {
            let _ = parse_request(body.as_bytes());
            let _ = csv_columns(&body);
            let _ = csv_row(&["memberNo".into(), "pointsAmount".into()], &body);
        }
    }
}
