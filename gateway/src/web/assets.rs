//! The dashboard's files, compiled into the binary. Adding a file means adding one row here and,
//! if the shell loads it, a `{{name}}` placeholder in `index.html`.

/// One embedded file served under `/ui/`.
#[derive(Debug)]
pub struct Asset {
    /// File name, the last path segment of its URL.
    pub name: &'static str,
    /// `Content-Type` it is served with.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
    /// Whether `index.html` links it through a `{{name}}` placeholder.
    pub linked: bool,
}

/// The shell, served at `/` and `/ui/`; its `{{name}}` placeholders become versioned URLs.
pub const INDEX_HTML: &str = include_str!("assets/index.html");

/// Every file served under `/ui/`.
pub const ASSETS: &[Asset] = &[
    Asset {
        name: "merkle.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/merkle.js"),
        linked: true,
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("assets/dashboard.js"),
        linked: true,
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("assets/favicon.svg"),
        linked: true,
    },
];
