//! The MCP server of one wiki: the reference implementation's sixteen tools (same names,
//! parameters, text and error texts), each also returning `structuredContent` that matches
//! its declared `outputSchema`; pages as resources (`wiki:///{path}`); the Agent Guide as
//! the server's instructions. Every tool is a thin call into the domain core, authorized
//! per call, with writes attributed to the caller.

use std::sync::{Arc, LazyLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rmcp::handler::server::common::schema_for_output;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Icon, Implementation, ListResourceTemplatesResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::schemars::{self, JsonSchema};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use serde::{Deserialize, Serialize};

use super::text;
use crate::access::{Caller, CurrentWiki};
use crate::db::wikis::Wiki;
use crate::error::{Error, Result};
use crate::service::Services;
use crate::service::op::Surface;
use crate::service::{attachments, pages, reads, search as find};
use crate::wiki::names::PageName;
use crate::wiki::query::{iso_time, parse_date};

/// One request's server: built per request (the endpoint is stateless), cheap to make.
#[derive(Clone)]
pub struct WikiServer {
    state: Services,
}

/// The tool table, built once.
static TOOLS: LazyLock<ToolRouter<WikiServer>> = LazyLock::new(|| {
    let mut tools = WikiServer::tool_router();
    for route in tools.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = Arc::new(standard_schema(&tool.input_schema));
        if let Some(out) = &tool.output_schema {
            tool.output_schema = Some(Arc::new(standard_schema(out)));
        }
    }
    tools
});

/// The `format`s JSON Schema (2020-12) defines; schemars also writes its own for Rust's
/// integer types (`uint`, `int64`, …), which SDKs validating schemas warn about.
const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// `schema` with only standard JSON Schema keywords' values: non-standard `format`s go
/// (the bounds schemars writes beside them, such as `minimum: 0`, stay).
fn standard_schema(schema: &rmcp::model::JsonObject) -> rmcp::model::JsonObject {
    fn clean(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                if o.get("format")
                    .and_then(|f| f.as_str())
                    .is_some_and(|f| !STANDARD_FORMATS.contains(&f))
                {
                    o.remove("format");
                }
                o.values_mut().for_each(clean);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(clean),
            _ => {}
        }
    }
    let mut v = serde_json::Value::Object(schema.clone());
    clean(&mut v);
    match v {
        serde_json::Value::Object(o) => o,
        _ => unreachable!("an object stays an object"),
    }
}

impl WikiServer {
    pub fn new(state: Services) -> WikiServer {
        WikiServer { state }
    }
}

// ---------------------------------------------------------------------------------------
// Parameters

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReadNote {
    /// The page's path, e.g. `Projects/Alpha`.
    pub path: String,
    /// A past revision (commit) to read; the current version when empty.
    #[serde(default)]
    pub revision: String,
    /// Only this section: a heading title or path such as `Setup > Linux`.
    #[serde(default)]
    pub section: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WriteNote {
    pub path: String,
    /// The whole page in Markdown.
    pub content: String,
    /// The revision you read: required to update an existing page (from read_note).
    #[serde(default)]
    pub revision: String,
    #[serde(default)]
    pub commit_message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EditNote {
    pub path: String,
    /// The revision you read (from read_note).
    pub revision: String,
    /// Text to replace: must occur exactly once in the page.
    pub old_string: String,
    pub new_string: String,
    #[serde(default)]
    pub commit_message: String,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
pub struct ListNotes {
    #[serde(default)]
    pub prefix: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tag: String,
    /// A date (`2026-11-01`) or RFC 3339 time.
    #[serde(default)]
    pub updated_since: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SearchNotes {
    pub query: String,
    /// `text` (by words, the default), `semantic` (by meaning) or `hybrid` (both). Without
    /// the embedding model, by-meaning modes answer with full-text results and a notice.
    #[serde(default)]
    pub mode: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SemanticSearch {
    /// What you are looking for, in your own words.
    pub query: String,
    /// Results to return (1–50).
    #[serde(default = "five")]
    pub n: i64,
    /// At most this many chunks from one page (1–5).
    #[serde(default = "two")]
    pub max_chunks_per_page: i64,
}

fn five() -> i64 {
    5
}
fn two() -> i64 {
    2
}
fn twenty() -> i64 {
    20
}
fn ten() -> i64 {
    10
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PathOnly {
    pub path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RecentChanges {
    /// Changes to list (1–200).
    #[serde(default = "twenty")]
    pub limit: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GetHistory {
    pub path: String,
    /// Revisions to list (1–200).
    #[serde(default = "ten")]
    pub limit: i64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RenameNote {
    pub path: String,
    pub new_path: String,
    #[serde(default)]
    pub commit_message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteNote {
    pub path: String,
    #[serde(default)]
    pub commit_message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadAttachment {
    /// The page the file belongs to (it must exist).
    pub path: String,
    pub filename: String,
    /// The file, base64-encoded.
    pub content: String,
    #[serde(default)]
    pub commit_message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AttachmentRef {
    pub path: String,
    pub filename: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct DeleteAttachment {
    pub path: String,
    pub filename: String,
    #[serde(default)]
    pub commit_message: String,
}

// ---------------------------------------------------------------------------------------
// Structured output (each tool's `outputSchema`)

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReadNoteOut {
    pub name: String,
    pub path: String,
    /// The revision to send back when writing.
    pub revision: String,
    pub section: Option<String>,
    pub metadata: Vec<(String, String)>,
    pub links_to: Vec<String>,
    pub linked_from: Vec<String>,
    pub content: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WriteNoteOut {
    pub path: String,
    pub revision: String,
    pub created: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct NoteSummary {
    pub path: String,
    pub category: Option<String>,
    pub tags: Vec<String>,
    pub words: usize,
    /// Last change, `YYYY-MM-DD`.
    pub updated: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListNotesOut {
    pub total: usize,
    pub notes: Vec<NoteSummary>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchHit {
    pub path: String,
    pub score: f64,
    pub snippet: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SearchOut {
    pub query: String,
    /// The mode that answered.
    pub mode: String,
    /// Why the mode asked for did not answer, when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    pub total: usize,
    pub results: Vec<SearchHit>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SemanticHitOut {
    pub path: String,
    pub distance: f32,
    pub section: String,
    pub section_path: String,
    pub chunk_index: usize,
    pub total_chunks: usize,
    pub page_word_count: usize,
    pub text: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SemanticOut {
    pub query: String,
    pub total: usize,
    pub results: Vec<SemanticHitOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct LinksOut {
    pub path: String,
    pub links_to: Vec<String>,
    pub linked_from: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct Change {
    pub revision: String,
    /// RFC 3339.
    pub date: String,
    pub author: String,
    pub message: String,
    pub pages: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ChangesOut {
    pub changes: Vec<Change>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryOut {
    pub path: String,
    pub revisions: Vec<Change>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RenameOut {
    pub from: String,
    pub to: String,
    pub revision: String,
    pub updated_pages: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DoneOut {
    /// What the call did, e.g. `Deleted Notes/A`.
    pub message: String,
    pub revision: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrphansOut {
    pub orphans: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AttachmentOut {
    pub filename: String,
    pub size: u64,
    pub mime_type: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct AttachmentsOut {
    pub path: String,
    pub attachments: Vec<AttachmentOut>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct DownloadOut {
    pub filename: String,
    pub size: usize,
    pub mime_type: String,
    pub content_base64: String,
}

// ---------------------------------------------------------------------------------------
// Calling the domain

/// Who is calling, on which wiki: set by robot's dispatch and the MCP guard.
fn caller_of(ctx: &RequestContext<RoleServer>) -> Result<(Caller, Wiki)> {
    let parts = ctx
        .extensions
        .get::<axum::http::request::Parts>()
        .ok_or(Error::Unauthorized)?;
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .ok_or(Error::Unauthorized)?;
    let wiki = parts
        .extensions
        .get::<CurrentWiki>()
        .map(|w| w.0.clone())
        .ok_or(Error::Unauthorized)?;
    Ok((caller, wiki))
}

fn change_of(c: &crate::wiki::store::CommitInfo, pages: Vec<String>) -> Change {
    Change {
        revision: c.id.clone(),
        date: iso_time(c.time),
        author: c.author.clone(),
        message: c.message.clone(),
        pages,
    }
}

/// A tool's result: the human summary, then (as the spec asks of a structured result,
/// for clients that read only text) the structured data as JSON, in a block of its own.
fn ok<T: Serialize>(out: &T, text: String) -> CallToolResult {
    let structured = serde_json::to_value(out).ok();
    let mut content = vec![ContentBlock::text(text)];
    if let Some(v) = &structured {
        content.push(ContentBlock::text(v.to_string()));
    }
    let mut r = CallToolResult::success(content);
    r.structured_content = structured;
    r
}

/// A failed call, in the reference's words for the error.
fn tool_error(e: Error, path: &str) -> CallToolResult {
    e.log();
    failed(text::error(&e, path))
}

fn failed(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

impl WikiServer {
    /// The caller's wiki as they may read it, for the resource list and completion.
    async fn pages_of(
        &self,
        ctx: &RequestContext<RoleServer>,
    ) -> std::result::Result<Arc<crate::wiki::snapshot::Snapshot>, ErrorData> {
        let read = async {
            let (caller, wiki) = caller_of(ctx)?;
            reads::tree(&self.state, &caller, &wiki).await
        };
        read.await
            .map_err(|e| ErrorData::invalid_request(text::error(&e, ""), None))
    }

    /// Runs a service operation for the caller on this wiki and turns its result (or
    /// error, in the reference's words) into the tool result: the one tool skeleton.
    async fn serve<T, Fut>(
        &self,
        ctx: &RequestContext<RoleServer>,
        path_for_errors: &str,
        op: impl FnOnce(Services, Caller, Wiki) -> Fut,
    ) -> CallToolResult
    where
        T: Serialize,
        Fut: std::future::Future<Output = Result<(T, String)>>,
    {
        let run = async {
            let (caller, wiki) = caller_of(ctx)?;
            op(self.state.clone(), caller, wiki).await
        };
        match run.await {
            Ok((out, text)) => ok(&out, text),
            Err(e) => tool_error(e, path_for_errors),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tools

#[tool_router]
impl WikiServer {
    #[tool(
        title = "Read a note",
        description = "Read a note (page): its metadata, links and Markdown. Optionally a past revision or one section.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ReadNoteOut>()
    )]
    async fn read_note(
        &self,
        Parameters(p): Parameters<ReadNote>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let read = async {
            let (caller, wiki) = caller_of(&ctx)?;
            let name = PageName::parse(&p.path)?;
            let rev = Some(p.revision.clone()).filter(|r| !r.is_empty());
            pages::read(&self.state, &caller, &wiki, name, rev).await
        };
        let read = match read.await {
            Ok(r) => r,
            Err(e) => return tool_error(e, &p.path),
        };
        let revision = read.revision();
        let mut page = read.page;
        let (metadata, _) = crate::wiki::query::front_matter_of(&page.content);
        let (section, content) = if p.section.trim().is_empty() {
            (None, std::mem::take(&mut page.content))
        } else {
            match crate::wiki::sections::extract(&page.content, &p.section) {
                Ok((path, text)) => (Some(path), text),
                // The reference's own words, listing the sections there are.
                Err(msg) => return failed(msg),
            }
        };
        let out = ReadNoteOut {
            name: page.name.to_string(),
            path: page.name.to_string(),
            revision,
            section,
            metadata,
            links_to: read.links_to,
            linked_from: read.linked_from,
            content,
        };
        let t = text::read_note(&out);
        ok(&out, t)
    }

    #[tool(
        title = "Write a note",
        description = "Create a note, or replace its whole content. Updating needs the revision from read_note; a stale one is refused, never overwritten.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<WriteNoteOut>()
    )]
    async fn write_note(
        &self,
        Parameters(p): Parameters<WriteNote>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let max = self.state.cfg.limits.max_page_bytes;
        if p.content.len() > max {
            return failed(format!(
                "Content too large ({} bytes). Maximum size is {max} bytes.",
                p.content.len()
            ));
        }
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let input = pages::Save {
                name,
                content: p.content,
                base: Some(p.revision).filter(|r| !r.is_empty()),
                message: p.commit_message,
            };
            let w = pages::save(&s, &caller, &wiki, Surface::Mcp, input)
                .await?
                .written()?;
            let out = WriteNoteOut {
                path: w.name.to_string(),
                revision: w.revision,
                created: w.created,
            };
            let t = text::write_note(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Edit a note",
        description = "Replace one exact, unique string in a note (old_string must occur once). Needs the revision from read_note.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<WriteNoteOut>()
    )]
    async fn edit_note(
        &self,
        Parameters(p): Parameters<EditNote>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let input = pages::Edit {
                name,
                revision: p.revision,
                old: p.old_string,
                new: p.new_string,
                message: p.commit_message,
            };
            let w = pages::edit(&s, &caller, &wiki, Surface::Mcp, input).await?;
            let out = WriteNoteOut {
                path: w.name.to_string(),
                revision: w.revision,
                created: false,
            };
            let t = text::edit_note(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "List notes",
        description = "List notes, optionally filtered by name prefix, front-matter category or tag, or last change date.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ListNotesOut>()
    )]
    async fn list_notes(
        &self,
        Parameters(p): Parameters<ListNotes>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.serve(&ctx, "", move |s, caller, wiki| async move {
            let since = if p.updated_since.trim().is_empty() {
                None
            } else {
                Some(parse_date(p.updated_since.trim()).ok_or_else(|| {
                    Error::Invalid(format!("Invalid updated_since: {}", p.updated_since))
                })?)
            };
            let filter = crate::wiki::query::PageFilter {
                prefix: p.prefix.clone(),
                category: p.category.clone(),
                tag: p.tag.clone(),
                updated_since: since,
            };
            let notes: Vec<NoteSummary> = reads::pages(&s, &caller, &wiki, filter)
                .await?
                .into_iter()
                .map(|s| NoteSummary {
                    path: s.name,
                    category: s.category,
                    tags: s.tags,
                    words: s.words,
                    updated: chrono::DateTime::from_timestamp(s.updated, 0)
                        .filter(|_| s.updated > 0)
                        .map(|d| d.format("%Y-%m-%d").to_string()),
                })
                .collect();
            let out = ListNotesOut {
                total: notes.len(),
                notes,
            };
            let t = text::list_notes(&out, &p);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Search notes",
        description = "Full-text search (all words must match; BM25-ranked) with snippets.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<SearchOut>()
    )]
    async fn search_notes(
        &self,
        Parameters(p): Parameters<SearchNotes>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.serve(&ctx, "", move |s, caller, wiki| async move {
            let mode = match p.mode.trim() {
                "" => find::Mode::Text,
                m => find::Mode::parse(m).ok_or_else(|| {
                    Error::Invalid("mode must be text, semantic or hybrid".into())
                })?,
            };
            let found = find::search(&s, &caller, &wiki, p.query.clone(), mode, 20, 0).await?;
            let out = SearchOut {
                query: p.query,
                mode: found.mode.as_str().into(),
                notice: found.notice,
                total: found.total,
                results: found
                    .hits
                    .into_iter()
                    .map(|h| SearchHit {
                        path: h.name.to_string(),
                        score: h.score,
                        snippet: h.snippet,
                    })
                    .collect(),
            };
            let t = text::search_notes(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Search by meaning",
        description = "Search by meaning: the passages closest to the query, whatever their words.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<SemanticOut>()
    )]
    async fn semantic_search(
        &self,
        Parameters(p): Parameters<SemanticSearch>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.serve(&ctx, "", move |s, caller, wiki| async move {
            let n = p.n.clamp(1, 50) as usize;
            let per_page = p.max_chunks_per_page.clamp(1, 5) as usize;
            let hits = find::passages(&s, &caller, &wiki, p.query.clone(), n, per_page).await?;
            let results: Vec<SemanticHitOut> = hits
                .into_iter()
                .map(|h| SemanticHitOut {
                    path: h.name,
                    distance: h.distance,
                    section: h.section,
                    section_path: h.section_path,
                    chunk_index: h.chunk_index,
                    total_chunks: h.total_chunks,
                    page_word_count: h.page_word_count,
                    text: h.text,
                })
                .collect();
            let out = SemanticOut {
                query: p.query.clone(),
                total: results.len(),
                results,
            };
            let t = text::semantic_search(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Links of a note",
        description = "The pages a note links to and the pages linking to it.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<LinksOut>()
    )]
    async fn get_links(
        &self,
        Parameters(p): Parameters<PathOnly>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let l = reads::links(&s, &caller, &wiki, PageName::parse(&p.path)?).await?;
            let out = LinksOut {
                path: l.name.to_string(),
                links_to: l.links_to,
                linked_from: l.linked_from,
            };
            let t = text::get_links(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Recent changes",
        description = "The latest changes across the wiki, newest first.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<ChangesOut>()
    )]
    async fn get_recent_changes(
        &self,
        Parameters(p): Parameters<RecentChanges>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.serve(&ctx, "", move |s, caller, wiki| async move {
            let limit = p.limit.clamp(1, 200) as usize;
            let (entries, _) = reads::changelog(&s, &caller, &wiki, 0, limit).await?;
            let changes = entries
                .iter()
                .map(|(c, files)| {
                    let pages = files
                        .iter()
                        .map(|f| {
                            if f.ends_with(".md") {
                                PageName::from_path(f).to_string()
                            } else {
                                f.clone()
                            }
                        })
                        .collect();
                    change_of(c, pages)
                })
                .collect();
            let out = ChangesOut { changes };
            let t = text::recent_changes(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "History of a note",
        description = "The revisions of one note, newest first.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<HistoryOut>()
    )]
    async fn get_history(
        &self,
        Parameters(p): Parameters<GetHistory>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let limit = p.limit.clamp(1, 200) as usize;
            let (name, commits) = reads::history(&s, &caller, &wiki, name, 0, limit).await?;
            let out = HistoryOut {
                path: name.to_string(),
                revisions: commits.iter().map(|c| change_of(c, Vec::new())).collect(),
            };
            let t = text::history(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Rename a note",
        description = "Rename (move) a note; links to it in other notes are rewritten in the same commit.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = false, open_world_hint = false),
        output_schema = schema_for_output::<RenameOut>()
    )]
    async fn rename_note(
        &self,
        Parameters(p): Parameters<RenameNote>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let input = pages::Rename {
                from: PageName::parse(&p.path)?,
                to: PageName::parse(&p.new_path)?,
                update_backlinks: true,
                message: p.commit_message,
            };
            let r = pages::rename(&s, &caller, &wiki, Surface::Mcp, input).await?;
            let out = RenameOut {
                from: r.from.to_string(),
                to: r.to.to_string(),
                revision: r.revision,
                updated_pages: r.updated_pages.iter().map(|p| p.to_string()).collect(),
            };
            let t = text::rename(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Delete a note",
        description = "Delete a note (its history stays in git).",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<DoneOut>()
    )]
    async fn delete_note(
        &self,
        Parameters(p): Parameters<DeleteNote>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let input = pages::Delete {
                name: PageName::parse(&p.path)?,
                recursive: false,
                message: p.commit_message,
            };
            let (name, commit) = pages::delete(&s, &caller, &wiki, Surface::Mcp, input).await?;
            let t = format!("Deleted {name}");
            Ok((
                DoneOut {
                    message: t.clone(),
                    revision: Some(commit),
                },
                t,
            ))
        })
        .await
    }

    #[tool(
        title = "Orphaned notes",
        description = "Notes no other note links to (Home excepted).",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<OrphansOut>()
    )]
    async fn find_orphaned_notes(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        self.serve(&ctx, "", move |s, caller, wiki| async move {
            let out = OrphansOut {
                orphans: reads::orphans(&s, &caller, &wiki).await?,
            };
            let t = text::orphans(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "List attachments",
        description = "The files attached to a note.",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<AttachmentsOut>()
    )]
    async fn list_attachments(
        &self,
        Parameters(p): Parameters<PathOnly>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let (name, files) = reads::attachments(&s, &caller, &wiki, name).await?;
            let out = AttachmentsOut {
                path: name.to_string(),
                attachments: files
                    .into_iter()
                    .map(|a| AttachmentOut {
                        filename: a.filename,
                        size: a.size,
                        mime_type: a.mime_type,
                    })
                    .collect(),
            };
            let t = text::attachments(&out);
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Upload an attachment",
        description = "Attach a file (base64) to an existing note.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<DoneOut>()
    )]
    async fn upload_attachment(
        &self,
        Parameters(p): Parameters<UploadAttachment>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let data = B64
                .decode(p.content.trim())
                .map_err(|e| Error::Invalid(format!("content is not valid base64: {e}")))?;
            let size = data.len();
            let input = attachments::Upload {
                page: name.clone(),
                files: vec![(p.filename.clone(), data)],
                message: p.commit_message,
            };
            let (commit, _) = attachments::upload(&s, &caller, &wiki, Surface::Mcp, input).await?;
            let t = format!("Uploaded {} to {name} ({size} bytes)", p.filename);
            Ok((
                DoneOut {
                    message: t.clone(),
                    revision: Some(commit),
                },
                t,
            ))
        })
        .await
    }

    #[tool(
        title = "Download an attachment",
        description = "Download a note's attachment (base64).",
        annotations(read_only_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<DownloadOut>()
    )]
    async fn download_attachment(
        &self,
        Parameters(p): Parameters<AttachmentRef>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let (data, mime_type) =
                reads::attachment(&s, &caller, &wiki, name, p.filename.clone(), None).await?;
            let out = DownloadOut {
                filename: p.filename.clone(),
                size: data.len(),
                mime_type,
                content_base64: B64.encode(&data),
            };
            let t = format!(
                "Downloaded {} ({} bytes, {})\nContent (base64):\n{}",
                out.filename, out.size, out.mime_type, out.content_base64
            );
            Ok((out, t))
        })
        .await
    }

    #[tool(
        title = "Delete an attachment",
        description = "Delete a note's attachment.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true, open_world_hint = false),
        output_schema = schema_for_output::<DoneOut>()
    )]
    async fn delete_attachment(
        &self,
        Parameters(p): Parameters<DeleteAttachment>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let path = p.path.clone();
        self.serve(&ctx, &path, move |s, caller, wiki| async move {
            let name = PageName::parse(&p.path)?;
            let file = p.filename.clone();
            let commit = attachments::delete(
                &s,
                &caller,
                &wiki,
                Surface::Mcp,
                name,
                file,
                p.commit_message,
            )
            .await?;
            let t = format!("Deleted attachment {}", p.filename);
            Ok((
                DoneOut {
                    message: t.clone(),
                    revision: Some(commit),
                },
                t,
            ))
        })
        .await
    }
}

/// The resource URI of a page.
const RESOURCE_TEMPLATE: &str = "wiki:///{path}";
/// Pages per `resources/list` result.
const RESOURCES_PER_PAGE: usize = 100;

/// `wiki:///Folder/Two%20Words`: a page's resource URI (read back by `read_resource`).
fn page_uri(name: &PageName) -> String {
    format!(
        "wiki:///{}",
        crate::wiki::names::url_path_encode(name.as_str())
    )
}

#[tool_handler(router = TOOLS)]
impl ServerHandler for WikiServer {
    #[allow(deprecated)] // enable_logging: see set_level
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_completions()
                .enable_logging()
                .build(),
        )
        .with_server_info(
            Implementation::new("robot", env!("CARGO_PKG_VERSION"))
                .with_title("robot wiki")
                .with_icons(vec![
                    Icon::new(format!("{}/static/robot.svg", self.state.cfg.root_url()))
                        .with_mime_type("image/svg+xml")
                        .with_sizes(vec!["any".into()]),
                ]),
        )
        .with_instructions(crate::wiki::provision::AGENT_GUIDE)
    }

    /// Accepted so clients can set it; the server sends no log notifications (its logs
    /// go to the operator, not the client). Logging leaves MCP after 2025-11-25, which
    /// robot still speaks, hence the deprecated names.
    #[allow(deprecated)]
    async fn set_level(
        &self,
        _request: rmcp::model::SetLevelRequestParams,
        _ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<(), ErrorData> {
        Ok(())
    }

    /// No prompts are declared, so `prompts/list` is not a method here (rmcp would
    /// answer an empty list).
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ListPromptsResult, ErrorData> {
        Err(ErrorData::method_not_found::<
            rmcp::model::ListPromptsRequestMethod,
        >())
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<ListResourceTemplatesResult, ErrorData> {
        let template = ResourceTemplate::new(RESOURCE_TEMPLATE, "page")
            .with_description("A page of this wiki, as Markdown (path as in read_note)")
            .with_mime_type("text/markdown");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    /// Every page as a resource, by name, [`RESOURCES_PER_PAGE`] at a time; the cursor
    /// is where the next page of the list starts.
    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::ListResourcesResult, ErrorData> {
        let start = match request.and_then(|r| r.cursor) {
            None => 0,
            Some(c) => c
                .parse::<usize>()
                .map_err(|_| ErrorData::invalid_params("invalid cursor", None))?,
        };
        let snap = self.pages_of(&ctx).await?;
        let resources: Vec<rmcp::model::Resource> = snap
            .pages
            .values()
            .skip(start)
            .take(RESOURCES_PER_PAGE)
            .map(|p| {
                rmcp::model::Resource::new(page_uri(&p.name), p.name.as_str())
                    .with_title(p.title.clone())
                    .with_mime_type("text/markdown")
                    .with_size(p.size)
            })
            .collect();
        let next = start + resources.len();
        let mut out = rmcp::model::ListResourcesResult::with_all_items(resources);
        if next < snap.pages.len() {
            out.next_cursor = Some(next.to_string());
        }
        Ok(out)
    }

    /// Completes the page template's `path`: the page names that start with what was
    /// typed (in any case), at most the spec's hundred.
    async fn complete(
        &self,
        request: rmcp::model::CompleteRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<rmcp::model::CompleteResult, ErrorData> {
        use rmcp::model::{CompleteResult, CompletionInfo, Reference};
        let for_pages = matches!(&request.r#ref, Reference::Resource(r) if r.uri == RESOURCE_TEMPLATE)
            && request.argument.name == "path";
        if !for_pages {
            return Ok(CompleteResult::default());
        }
        let snap = self.pages_of(&ctx).await?;
        let typed = request.argument.value.to_lowercase();
        let matching: Vec<String> = snap
            .pages
            .values()
            .map(|p| p.name.as_str())
            .filter(|n| n.to_lowercase().starts_with(&typed))
            .map(String::from)
            .collect();
        let total = matching.len();
        let values: Vec<String> = matching
            .into_iter()
            .take(CompletionInfo::MAX_VALUES)
            .collect();
        let info = CompletionInfo::with_pagination(
            values,
            Some(total as u32),
            total > CompletionInfo::MAX_VALUES,
        )
        .map_err(|e| ErrorData::internal_error(e, None))?;
        Ok(CompleteResult::new(info))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> std::result::Result<ReadResourceResponse, ErrorData> {
        let uri = request.uri.clone();
        let raw = uri
            .strip_prefix("wiki:///")
            .ok_or_else(|| ErrorData::invalid_params(format!("not a page URI: {uri}"), None))?;
        let path = percent_encoding::percent_decode_str(raw)
            .decode_utf8_lossy()
            .into_owned();
        let result = async {
            let (caller, wiki) = caller_of(&ctx)?;
            let name = PageName::parse(&path)?;
            pages::read(&self.state, &caller, &wiki, name, None).await
        }
        .await;
        match result {
            Ok(read) => Ok(ReadResourceResult::new(vec![
                ResourceContents::text(read.page.content, uri).with_mime_type("text/markdown"),
            ])
            .into()),
            Err(Error::NotFound(_)) => Err(ErrorData::resource_not_found(
                format!("Page not found: {path}"),
                None,
            )),
            Err(e) => Err(ErrorData::invalid_request(text::error(&e, &path), None)),
        }
    }
}
