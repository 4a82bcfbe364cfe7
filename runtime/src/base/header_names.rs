//! Header names as the servers behind the gateway may read them.

/// Whether two lowercase header names are one to a CGI or WSGI server, which reads both
/// `-` and `_` as `_` (`x-user-id` and `x_user_id` are both `HTTP_X_USER_ID`): a client's
/// copy in the other spelling could stand beside, or for, a header only the gateway sets.
pub(crate) fn same_cgi_name(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .all(|(x, y)| x == y || (matches!(x, b'-' | b'_') && matches!(y, b'-' | b'_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashes_and_underscores_are_one() {
        assert!(same_cgi_name("x-user-id", "x_user_id"));
        assert!(same_cgi_name("x-user-id", "x-user_id"));
        assert!(same_cgi_name("x-user-id", "x-user-id"));
        assert!(!same_cgi_name("x-user-id", "x-user-idx"));
        assert!(!same_cgi_name("x-user-id", "x.user.id"));
    }
}
