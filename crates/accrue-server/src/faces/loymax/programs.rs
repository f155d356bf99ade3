//! Which program a Loymax request is for. A program may be bound to host names and to a
//! path prefix (admin API, `PUT /admin/v1/programs/{code}/faces/loymax`): a request whose
//! first path segment is a bound prefix is for that program (the prefix is taken off),
//! else one whose host is bound, else the server's default program (`--loymax-program`).
//!
//! The bindings are read from the store and kept: the admin API drops them when it
//! changes them, and servers that share the database read them again every few seconds.

use super::paths::{first_segment, Paths};
use crate::strays::stray;
use accrue_store::{Store, StoreError};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::HOST;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The face's name in the store's bindings.
pub const FACE: &str = "loymax";

/// How long bindings are kept before they are read again (changes made through another
/// server on the same database show within this time).
const RELOAD_AFTER: Duration = Duration::from_secs(5);

/// The program a request is served for, chosen once per request and carried as a
/// request extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedProgram {
    pub id: i64,
    pub code: String,
}

/// The program [`select`] chose for the request.
impl<S: Send + Sync> FromRequestParts<S> for ServedProgram {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        let served = parts.extensions.get::<ServedProgram>().cloned();
        served.ok_or_else(|| failed(&StoreError::Internal("no program was chosen for the request".into())))
    }
}

/// The programs the face serves: the bindings in force and the default program.
pub struct Programs {
    store: Store,
    default_program: String,
    kept: RwLock<Option<Arc<Bindings>>>,
    /// Counts the times the kept bindings were dropped: a reading begun before a drop
    /// is not kept.
    drops: AtomicU64,
}

struct Bindings {
    /// `None` when the default program does not exist.
    default: Option<ServedProgram>,
    hosts: HashMap<String, ServedProgram>,
    prefixes: HashMap<String, ServedProgram>,
    read_at: Instant,
}

impl Programs {
    pub fn new(store: Store, default_program: &str) -> Programs {
        Programs {
            store,
            default_program: default_program.to_string(),
            kept: RwLock::new(None),
            drops: AtomicU64::new(0),
        }
    }

    /// The program served where no binding matches.
    pub fn default_program(&self) -> &str {
        &self.default_program
    }

    /// Drops the kept bindings: the next request reads them again.
    pub fn changed(&self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
        *self.kept.write().expect("bindings lock") = None;
    }

    async fn bindings(&self) -> Result<Arc<Bindings>, StoreError> {
        let kept = self.kept.read().expect("bindings lock").clone();
        if let Some(bindings) = kept.filter(|b| b.read_at.elapsed() < RELOAD_AFTER) {
            return Ok(bindings);
        }
        let drops = self.drops.load(Ordering::SeqCst);
        let bindings = Arc::new(self.read().await?);
        let mut kept = self.kept.write().expect("bindings lock");
        if self.drops.load(Ordering::SeqCst) == drops {
            *kept = Some(bindings.clone());
        }
        Ok(bindings)
    }

    async fn read(&self) -> Result<Bindings, StoreError> {
        let default = match self.store.program(&self.default_program).await {
            Ok(p) => Some(ServedProgram { id: p.id, code: p.code }),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        let mut bindings = Bindings {
            default,
            hosts: HashMap::new(),
            prefixes: HashMap::new(),
            read_at: Instant::now(),
        };
        for binding in self.store.face_bindings(FACE).await? {
            let served = ServedProgram {
                id: binding.program_id,
                code: binding.program,
            };
            for host in binding.hosts {
                bindings.hosts.insert(host, served.clone());
            }
            if let Some(prefix) = binding.path_prefix {
                bindings.prefixes.insert(prefix, served);
            }
        }
        Ok(bindings)
    }
}

impl Bindings {
    /// The program of a request and its path once a bound prefix is taken off.
    fn select<'p>(&self, host: Option<&str>, path: &'p str) -> (Option<&ServedProgram>, &'p str) {
        if let Some((first, rest)) = first_segment(path) {
            if let Some(program) = self.prefixes.get(&first.to_ascii_lowercase()) {
                return (Some(program), rest);
            }
        }
        let bound = host.and_then(|h| self.hosts.get(h));
        (bound.or(self.default.as_ref()), path)
    }
}

/// The host a request was sent to, lowercased, without port or final dot.
fn host_of(req: &Request) -> Option<String> {
    let header = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    let host = header.or(req.uri().host())?;
    let name = if host.starts_with('[') {
        host
    } else {
        host.split(':').next().unwrap_or_default()
    };
    Some(name.trim_end_matches('.').to_ascii_lowercase())
}

/// What the layer in front of the face's routes needs.
pub struct Selector {
    pub paths: Paths,
    pub programs: Arc<Programs>,
}

/// Chooses the program of a Loymax request and rewrites its path to the face's route
/// (see [`Paths::canonical`]); the version asked for and the program go with the
/// request as extensions. Paths outside the Loymax prefixes answer 404.
pub async fn select(State(selector): State<Arc<Selector>>, mut req: Request, next: Next) -> Response {
    let bindings = match selector.programs.bindings().await {
        Ok(bindings) => bindings,
        Err(e) => return failed(&e),
    };
    let host = host_of(&req);
    let (program, rest) = bindings.select(host.as_deref(), req.uri().path());
    let Some((version, path)) = selector.paths.canonical(rest) else {
        return stray(StatusCode::NOT_FOUND, "no such route");
    };
    let Some(program) = program.cloned() else {
        let missing = format!(
            "program {}, the default of the Loymax face",
            selector.programs.default_program
        );
        return failed(&StoreError::Internal(missing));
    };
    let uri = match req.uri().query() {
        Some(query) => format!("{path}?{query}"),
        None => path,
    };
    let Ok(uri) = uri.parse() else {
        return stray(StatusCode::BAD_REQUEST, "malformed path");
    };
    *req.uri_mut() = uri;
    req.extensions_mut().insert(version);
    req.extensions_mut().insert(program);
    next.run(req).await
}

/// A failure of ours, logged with an id that the answer carries (in the envelope of
/// the request's endpoint, see `strays`).
fn failed(e: &StoreError) -> Response {
    let id = format!("{:016x}", rand::random::<u64>());
    tracing::error!(error_id = %id, error = %e, "loymax face failed");
    stray(StatusCode::INTERNAL_SERVER_ERROR, format!("Идентификатор ошибки: {id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(id: i64, code: &str) -> ServedProgram {
        ServedProgram { id, code: code.into() }
    }

    #[test]
    fn a_prefix_then_a_host_then_the_default() {
        let bindings = Bindings {
            default: Some(served(1, "default")),
            hosts: HashMap::from([("shop.example".to_string(), served(2, "shop"))]),
            prefixes: HashMap::from([("/shop3".to_string(), served(3, "shop3"))]),
            read_at: Instant::now(),
        };
        let select = |host: Option<&str>, path: &'static str| {
            let (program, rest) = bindings.select(host, path);
            (program.map(|p| p.id), rest)
        };
        assert_eq!(select(None, "/api/v1/User"), (Some(1), "/api/v1/User"));
        assert_eq!(select(Some("shop.example"), "/api/v1/User"), (Some(2), "/api/v1/User"));
        assert_eq!(
            select(Some("other.example"), "/SHOP3/api/v1/User"),
            (Some(3), "/api/v1/User")
        );
        assert_eq!(
            select(Some("shop.example"), "/shop3/api/v1/User"),
            (Some(3), "/api/v1/User"),
            "the prefix wins"
        );
        assert_eq!(
            select(None, "/shop3"),
            (Some(1), "/shop3"),
            "a prefix alone is no route"
        );
        assert_eq!(select(None, "/shop4/api/v1/User"), (Some(1), "/shop4/api/v1/User"));
    }

    #[test]
    fn hosts_without_port_and_case() {
        let host = |value: &str| {
            let req = Request::builder()
                .header(HOST, value)
                .body(axum::body::Body::empty())
                .unwrap();
            host_of(&req)
        };
        assert_eq!(host("Shop.Example:8080").as_deref(), Some("shop.example"));
        assert_eq!(host("shop.example.").as_deref(), Some("shop.example"));
        assert_eq!(host("[::1]:80").as_deref(), Some("[::1]:80"));
    }
}
