//! Opaque global IDs (`base64url("JobPosting:42")`) and cursors. Clients must treat both as
//! opaque strings; the encoding may change.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::ApiError;

/// Encode a global ID for an object of type `kind`.
pub fn encode(kind: &str, id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{id}"))
}

/// Decode a global ID, checking that it names an object of type `kind`.
/// A bare database id (`"42"`) is accepted too, for people typing in GraphiQL.
pub fn decode(kind: &str, gid: &str) -> Result<i64, ApiError> {
    if let Ok(n) = gid.parse::<i64>() {
        return Ok(n);
    }
    let (k, id) = decode_any(gid)?;
    if k != kind {
        return Err(ApiError::bad_input(format!(
            "ID `{gid}` is a {k} ID, expected a {kind} ID"
        )));
    }
    Ok(id)
}

/// Decode a global ID of any type into `(type, id)`.
pub fn decode_any(gid: &str) -> Result<(String, i64), ApiError> {
    let invalid = || ApiError::bad_input(format!("`{gid}` is not a valid ID"));
    let bytes = URL_SAFE_NO_PAD.decode(gid.trim()).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (kind, id) = text.split_once(':').ok_or_else(invalid)?;
    let id = id.parse::<i64>().map_err(|_| invalid())?;
    Ok((kind.to_owned(), id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_check_their_type() {
        let gid = encode("JobPosting", 42);
        assert_eq!(decode("JobPosting", &gid).unwrap(), 42);
        assert!(
            decode("IngestRun", &gid)
                .unwrap_err()
                .message()
                .contains("is a JobPosting ID")
        );
        assert_eq!(decode("JobPosting", "7").unwrap(), 7);
        assert!(decode("JobPosting", "%%%").is_err());
    }
}
