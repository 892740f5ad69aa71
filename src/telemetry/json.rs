//! JSON log lines: tracing-subscriber's JSON format (the event, the current span and the
//! span list with their fields), plus `trace_id` and `span_id` when the event happens in
//! a span that is exported, so a log line leads to its trace.

use std::fmt;

use opentelemetry::trace::TraceContextExt;
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The fmt layer writing JSON lines to stdout.
pub fn layer<S>() -> tracing_subscriber::fmt::Layer<S, JsonFields, WithTraceIds>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let format = tracing_subscriber::fmt::format()
        .json()
        .with_current_span(true)
        .with_span_list(true);
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(WithTraceIds(format))
}

pub struct WithTraceIds(Format<Json>);

impl<S, N> FormatEvent<S, N> for WithTraceIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match (trace_ids(ctx), line.trim_end().strip_suffix('}')) {
            (Some((trace, span)), Some(open)) => writeln!(
                writer,
                "{open},\"trace_id\":\"{trace}\",\"span_id\":\"{span}\"}}"
            ),
            _ => writer.write_str(&line),
        }
    }
}

/// The ids of the innermost exported span around the event.
fn trace_ids<S, N>(ctx: &FmtContext<'_, S, N>) -> Option<(String, String)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    let dispatch = tracing::dispatcher::get_default(Clone::clone);
    ctx.event_scope()?.find_map(|span| {
        let cx = tracing_opentelemetry::get_otel_context(&span.id(), &dispatch)?;
        let otel = cx.span();
        let ids = otel.span_context();
        (ids.is_valid() && ids.is_sampled())
            .then(|| (ids.trace_id().to_string(), ids.span_id().to_string()))
    })
}
