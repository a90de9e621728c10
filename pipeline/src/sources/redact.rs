//! Camera URIs as logs, errors, heartbeats and the console may show them: credentials
//! removed. `rtsp://admin:secret@10.0.0.7:554/stream1` is written in a config, and a
//! GStreamer error may echo it; neither may reach a log in clear.

/// Query (and fragment) parameters whose value is a credential, compared case-insensitively.
const SECRET_PARAMS: &[&str] = &[
    "password",
    "passwd",
    "pass",
    "pwd",
    "token",
    "access_token",
    "auth",
    "authorization",
    "key",
    "apikey",
    "api_key",
    "secret",
    "sig",
    "signature",
    "user",
    "username",
    "login",
];

/// Shown in place of a credential.
const HIDDEN: &str = "***";

/// `uri` without its credentials, as a log may show it: the userinfo becomes `***`
/// (`rtsp://user:pass@host:554/x` → `rtsp://***@host:554/x`, `user@` alike), and the value
/// of a credential parameter in the query or fragment too (`?password=x` → `?password=***`).
/// Everything else is kept, so the camera can still be told apart: host, port, path. A plain
/// file path is returned as it is; a scheme-less `user:pass@host/x` loses its userinfo.
///
/// The userinfo is what precedes the last `@` (or `%40`) of the authority, which ends at the
/// first `/`, `?` or `#`: an `@` in the path is not taken for one, and a password with an `@`
/// in it, raw or percent-encoded, is hidden whole.
pub fn redacted_uri(uri: &str) -> String {
    let (scheme, rest) = match uri.find("://") {
        // Whatever precedes `://` (a scheme or not) is kept; the authority follows it.
        Some(i) => uri.split_at(i + 3),
        // A path: nothing of it is a credential.
        None if uri.starts_with(['/', '.', '~']) => return uri.to_string(),
        None => ("", uri),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let mut out = String::with_capacity(uri.len());
    out.push_str(scheme);
    match userinfo_end(authority) {
        Some((at, len)) => {
            out.push_str(HIDDEN);
            out.push('@');
            out.push_str(&authority[at + len..]);
        }
        None => out.push_str(authority),
    }
    // Path as it is; then the query and fragment, parameter by parameter.
    let params = tail.find(['?', '#']).unwrap_or(tail.len());
    out.push_str(&tail[..params]);
    let mut rest = &tail[params..];
    while let Some(sep) = rest.chars().next() {
        out.push(sep);
        let next = rest[1..].find(['?', '#']).map_or(rest.len(), |i| i + 1);
        let part = &rest[1..next];
        let shown: Vec<String> = part.split('&').map(hide_secret_param).collect();
        out.push_str(&shown.join("&"));
        rest = &rest[next..];
    }
    out
}

/// `text` (an error message, a GStreamer debug line) with every occurrence of `uri` shown
/// as [`redacted_uri`] shows it, its userinfo and password hidden wherever they appear
/// alone (raw or percent-decoded), and any other URI in it with credentials redacted too.
/// `uri` may be empty: then only the URIs found in the text are.
pub fn redact_uri_in(text: &str, uri: &str) -> String {
    let mut text = if uri.is_empty() { text.to_string() } else { text.replace(uri, &redacted_uri(uri)) };
    if let Some(userinfo) = userinfo_of(uri) {
        let password = userinfo.split_once(':').map(|(_, p)| p).unwrap_or_default();
        for secret in [userinfo.to_string(), percent_decoded(userinfo), password.to_string(), percent_decoded(password)]
        {
            // A secret of a character or two would hide ordinary words; the URI itself is gone already.
            if secret.chars().count() >= 4 {
                text = text.replace(&secret, HIDDEN);
            }
        }
    }
    redact_uris(&text)
}

/// Every `scheme://…` in `text`, up to the next space or quote, through [`redacted_uri`].
fn redact_uris(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let sep = from + found;
        // The scheme: the run of scheme characters before `://`, from its first letter.
        let run = text[..sep]
            .char_indices()
            .rev()
            .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .last()
            .map_or(sep, |(i, _)| i);
        let start = text[run..sep].find(|c: char| c.is_ascii_alphabetic()).map_or(sep, |i| run + i);
        let end = text[sep..].find(|c: char| c.is_whitespace() || "\"'<>`".contains(c)).map_or(text.len(), |i| sep + i);
        if start < sep && start >= done && is_scheme(&text[start..sep]) {
            out.push_str(&text[done..start]);
            out.push_str(&redacted_uri(&text[start..end]));
            done = end;
        }
        from = end.max(sep + 3);
    }
    out.push_str(&text[done..]);
    out
}

/// A URI scheme: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// Where the userinfo's closing `@` (or `%40`) is in an authority, and its length.
fn userinfo_end(authority: &str) -> Option<(usize, usize)> {
    let at = authority.rfind('@').map(|i| (i, 1));
    let encoded = authority.to_ascii_lowercase().rfind("%40").map(|i| (i, 3));
    at.into_iter().chain(encoded).max_by_key(|(i, _)| *i)
}

/// The userinfo of `uri` (`user:pass`), if it has one.
fn userinfo_of(uri: &str) -> Option<&str> {
    let rest = match uri.find("://") {
        Some(i) => &uri[i + 3..],
        None if uri.starts_with(['/', '.', '~']) => return None,
        None => uri,
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    userinfo_end(authority).map(|(at, _)| &authority[..at]).filter(|u| !u.is_empty())
}

/// `name=value` with the value hidden when `name` is a credential's.
fn hide_secret_param(param: &str) -> String {
    match param.split_once('=') {
        Some((name, value)) if !value.is_empty() && SECRET_PARAMS.contains(&name.to_ascii_lowercase().as_str()) => {
            format!("{name}={HIDDEN}")
        }
        _ => param.to_string(),
    }
}

/// `%XX` escapes decoded (bytes that make no UTF-8 are replaced); anything else as it is.
fn percent_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_removed_and_the_rest_kept() {
        for (uri, shown) in [
            ("rtsp://user:pass@host:554/x", "rtsp://***@host:554/x"),
            ("rtsp://admin@10.0.0.7/stream1", "rtsp://***@10.0.0.7/stream1"),
            ("rtsp://u:p@[fe80::1]:554/live", "rtsp://***@[fe80::1]:554/live"),
            ("RTSP://u:p@host", "RTSP://***@host"),
            (
                "http://cam.local/mjpeg?user=admin&password=s3cret&fps=5",
                "http://cam.local/mjpeg?user=***&password=***&fps=5",
            ),
            ("rtsp://host/x?Token=abc#pass=q", "rtsp://host/x?Token=***#pass=***"),
            ("http://host/a?password=", "http://host/a?password="),
            ("rtsp://10.0.0.7:554/stream1", "rtsp://10.0.0.7:554/stream1"),
            ("file:///var/clips/a.mp4", "file:///var/clips/a.mp4"),
            ("v4l2:///dev/video0", "v4l2:///dev/video0"),
            ("/var/clips/gate@night.mp4", "/var/clips/gate@night.mp4"),
            ("./clips/a.avi", "./clips/a.avi"),
            ("clips/a.avi", "clips/a.avi"),
            ("generated:gate-lane", "generated:gate-lane"),
        ] {
            assert_eq!(redacted_uri(uri), shown, "{uri}");
        }
    }

    #[test]
    fn hostile_uris_leak_nothing() {
        for (uri, shown, secret) in [
            // An `@` in the path is not a userinfo; the real one is still found.
            ("rtsp://host/p@th/x", "rtsp://host/p@th/x", ""),
            ("rtsp://user:pass@host/p@th", "rtsp://***@host/p@th", "pass"),
            // A raw `@` in the password: the authority's last `@` closes the userinfo.
            ("rtsp://user:p@ss@host/x", "rtsp://***@host/x", "p@ss"),
            // Percent-encoded, in the password or as the separator itself.
            ("rtsp://user:p%40ss@host/x", "rtsp://***@host/x", "p%40ss"),
            ("rtsp://user:secret%40host/x", "rtsp://***@host/x", "secret"),
            // No scheme.
            ("user:pass@host:554/x", "***@host:554/x", "pass"),
            ("admin:hunter2@cam", "***@cam", "hunter2"),
            // Not a scheme before `://`.
            ("1bad://user:pass@host", "1bad://***@host", "pass"),
            ("", "", ""),
            ("@", "***@", ""),
            ("rtsp://@host/x", "rtsp://***@host/x", ""),
            ("rtsp://", "rtsp://", ""),
            ("rtsp://u:p@", "rtsp://***@", ""),
            ("rtsp://h?&&=&password", "rtsp://h?&&=&password", ""),
            ("rtsp://ü:ß@hôst/ä?pass=é", "rtsp://***@hôst/ä?pass=***", "ß"),
        ] {
            let got = redacted_uri(uri);
            assert_eq!(got, shown, "{uri}");
            assert!(secret.is_empty() || !got.contains(secret), "{uri} → {got}");
        }
    }

    #[test]
    fn error_texts_lose_the_uri_s_credentials_wherever_they_appear() {
        let uri = "rtsp://admin:Pa%24%24w0rd@10.0.0.7:554/stream1";
        let gst = format!(
            "source: Could not open resource for reading and writing. (gstrtspsrc.c(8150): gst_rtspsrc_retrieve_sdp (): \
             /GstPipeline:pipeline0/GstURIDecodeBin:src/GstRTSPSrc:source:\nFailed to connect to {uri}; \
             user admin:Pa$$w0rd, password Pa$$w0rd, other \"http://x:y@cam2/z\")"
        );
        let shown = redact_uri_in(&gst, uri);
        for secret in ["Pa%24%24w0rd", "Pa$$w0rd", "admin:", "x:y@"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("rtsp://***@10.0.0.7:554/stream1"), "{shown}");
        assert!(shown.contains("\"http://***@cam2/z\""), "{shown}");
        assert!(shown.contains("gst_rtspsrc_retrieve_sdp"), "the rest of the message is kept: {shown}");
        // Without a URI to look for, the URIs in the text are still redacted; a text without any is unchanged.
        assert_eq!(redact_uri_in("expected `rtsp://u:p@h/x` at line 3", ""), "expected `rtsp://***@h/x` at line 3");
        assert_eq!(redact_uri_in("no frame for 5.0 s", "rtsp://u:pw@h/x"), "no frame for 5.0 s");
        // A short password is not hunted through the text (it would hide ordinary words).
        assert_eq!(redact_uri_in("a stream ended at rtsp://u:a@h", "rtsp://u:a@h"), "a stream ended at rtsp://***@h");
        // Several URIs in one text, and `://` that is no URI.
        assert_eq!(
            redact_uri_in("rtsp://a:b@h1/x and rtsp://c:d@h2/y; ://z", ""),
            "rtsp://***@h1/x and rtsp://***@h2/y; ://z"
        );
        assert_eq!(redact_uri_in("at 9rtsp://u:p@h/x", ""), "at 9rtsp://***@h/x");
    }
}
