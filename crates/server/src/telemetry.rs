//! Logging set-up: human-readable text by default, one JSON object per line on request.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber. `filter` uses tracing's env-filter syntax.
/// Where log lines go.
#[derive(Clone, Copy)]
pub enum Output {
    Stdout,
    /// For commands whose answer is on stdout.
    Stderr,
}

pub fn init(format: LogFormat, filter: &str, to: Output) -> Result<(), String> {
    let filter = EnvFilter::try_new(filter).map_err(|err| format!("MISSIVE_LOG: {err}"))?;
    let (writer, terminal) = match to {
        Output::Stdout => (
            BoxMakeWriter::new(std::io::stdout),
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        ),
        Output::Stderr => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_span_events(FmtSpan::NONE)
        .with_target(false)
        // Colour only for a person at a terminal, never in files or log collectors.
        .with_ansi(terminal);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
    };
    installed.map_err(|err| format!("logging: {err}"))
}
