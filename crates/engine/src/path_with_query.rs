//! Relative request paths for `wasi:http@0.3` guests.
//!
//! Why this exists: `wasi:http/types@0.3.0` lets a guest set any
//! `path-with-query` on a request it builds (`"a/b/c"`, `"../.."`,
//! `"?foo"`) and read it back unchanged, and the upstream WASI 0.3
//! conformance test `http-request` checks exactly that. wasmtime-wasi-http
//! 48.0.8 rejects a path that does not start with `/` or `?`
//! (`parse_path_with_query`), and `http::uri::PathAndQuery`, where it keeps
//! the value, cannot hold such a path either.
//!
//! The workaround: [`shadow`] replaces the two host functions
//! `[method]request.set-path-with-query` and
//! `[method]request.get-path-with-query` of `wasi:http/types@0.3.0`. A
//! relative path is stored as `"/" + path` (what an HTTP client would send
//! anyway), and the guest's own string is kept in the store's [`RawPaths`],
//! keyed by the request's handle. The getter returns that string only while
//! the stored path is still the one set with it, so a handle number reused
//! by a later request never reads an old path. Everything else (absolute
//! paths, `None`, invalid characters) behaves as in wasmtime-wasi-http,
//! except that `""` reads back as `"/"`, as the test expects.
//!
//! Remove this file when wasmtime accepts relative paths itself.

use std::collections::HashMap;

use http::uri::PathAndQuery;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p3::Request;

/// Relative paths guests set, by request handle: the guest's string and
/// the path stored in its place.
#[derive(Debug, Default)]
pub(crate) struct RawPaths(HashMap<u32, (String, PathAndQuery)>);

/// The instance whose functions [`shadow`] replaces.
const TYPES: &str = "wasi:http/types@0.3.0";

/// Replaces the path getter and setter of `wasi:http/types@0.3.0` in
/// `linker` (which must already hold wasmtime-wasi-http's p3 functions)
/// with ones that accept relative paths; `raw` finds a store's
/// [`RawPaths`].
pub(crate) fn shadow<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
    raw: fn(&mut T) -> &mut RawPaths,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES)?;
    types.func_wrap(
        "[method]request.set-path-with-query",
        move |mut store: wasmtime::StoreContextMut<'_, T>,
              (req, path): (Resource<Request>, Option<String>)| {
            let Ok(parsed) = parse(path.as_deref()) else {
                return Ok((Err(()),));
            };
            let data = store.data_mut();
            let (stored, guest) = match parsed {
                Parsed::Plain(stored) => (stored, None),
                Parsed::Relative { stored, guest } => (Some(stored.clone()), Some((guest, stored))),
            };
            data.http().table.get_mut(&req)?.path_with_query = stored;
            match guest {
                Some(entry) => raw(data).0.insert(req.rep(), entry),
                None => raw(data).0.remove(&req.rep()),
            };
            Ok((Ok(()),))
        },
    )?;
    types.func_wrap(
        "[method]request.get-path-with-query",
        move |mut store: wasmtime::StoreContextMut<'_, T>, (req,): (Resource<Request>,)| {
            let data = store.data_mut();
            let stored = data.http().table.get(&req)?.path_with_query.clone();
            let guest = raw(data)
                .0
                .get(&req.rep())
                .filter(|(_, marker)| stored.as_ref() == Some(marker))
                .map(|(guest, _)| guest.clone());
            Ok((guest.or_else(|| stored.map(|p| p.as_str().to_string())),))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A path as the setter stores it.
#[derive(Debug, PartialEq)]
enum Parsed {
    /// Stored as it is (or `None`).
    Plain(Option<PathAndQuery>),
    /// A relative path: `stored` is `"/" + guest`.
    Relative { stored: PathAndQuery, guest: String },
}

/// What the setter stores for `path`; `Err` for a path no request can
/// carry (control characters, spaces).
fn parse(path: Option<&str>) -> Result<Parsed, ()> {
    let Some(path) = path else {
        return Ok(Parsed::Plain(None));
    };
    if path.is_empty() {
        return Ok(Parsed::Plain(Some(PathAndQuery::from_static("/"))));
    }
    if path.starts_with('/') {
        return path
            .parse::<PathAndQuery>()
            .map(|p| Parsed::Plain(Some(p)))
            .map_err(drop);
    }
    let stored = format!("/{path}").parse::<PathAndQuery>().map_err(drop)?;
    Ok(Parsed::Relative {
        stored,
        guest: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{Parsed, PathAndQuery, parse};

    fn relative(stored: &'static str, guest: &str) -> Parsed {
        Parsed::Relative {
            stored: PathAndQuery::from_static(stored),
            guest: guest.to_string(),
        }
    }

    #[test]
    fn relative_paths_are_kept_and_stored_under_a_slash() {
        assert_eq!(parse(Some("a/b/c")), Ok(relative("/a/b/c", "a/b/c")));
        assert_eq!(parse(Some("../..")), Ok(relative("/../..", "../..")));
        assert_eq!(parse(Some("?foo")), Ok(relative("/?foo", "?foo")));
    }

    #[test]
    fn absolute_empty_and_none_are_stored_as_they_are() {
        assert_eq!(
            parse(Some("/x?y=1")),
            Ok(Parsed::Plain(Some(PathAndQuery::from_static("/x?y=1"))))
        );
        assert_eq!(
            parse(Some("")),
            Ok(Parsed::Plain(Some(PathAndQuery::from_static("/"))))
        );
        assert_eq!(parse(None), Ok(Parsed::Plain(None)));
    }

    #[test]
    fn paths_no_request_can_carry_are_refused() {
        for bad in ["/a b", "a\nb", "/\u{7f}"] {
            assert_eq!(parse(Some(bad)), Err(()), "{bad:?}");
        }
    }
}
