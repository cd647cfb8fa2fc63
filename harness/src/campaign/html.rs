//! The campaign's HTML report: one static page, inline SVG charts, no external assets.

use super::report::{counts, CampaignReport};
use crate::html::escape;
use std::fmt::Write;

const W: f64 = 640.0;
const H: f64 = 200.0;

/// A line chart of (x, y) points scaled into the frame, with axis labels.
fn line_chart(title: &str, x_label: &str, y_label: &str, points: &[(f64, f64)]) -> String {
    let max_x = points.iter().map(|p| p.0).fold(0.0, f64::max).max(1e-9);
    let max_y = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9);
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| {
            format!(
                "{:.1},{:.1}",
                40.0 + x / max_x * (W - 50.0),
                H - 25.0 - y / max_y * (H - 40.0)
            )
        })
        .collect();
    format!(
        r##"<figure><figcaption>{title}</figcaption><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">
<line x1="40" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/><line x1="40" y1="15" x2="40" y2="{b}" stroke="#888"/>
<polyline fill="none" stroke="#2a6" stroke-width="2" points="{pts}"/>
<text x="40" y="{lx}" font-size="11">0</text><text x="{r}" y="{lx}" font-size="11" text-anchor="end">{max_x:.1} {x_label}</text>
<text x="36" y="20" font-size="11" text-anchor="end">{max_y:.0}</text><text x="44" y="12" font-size="11">{y_label}</text>
</svg></figure>"##,
        b = H - 25.0,
        r = W - 10.0,
        lx = H - 8.0,
        pts = path.join(" ")
    )
}

/// A bar chart of counts.
fn bar_chart(title: &str, x_label: &str, bins: &[usize], max_x: f64) -> String {
    let max = bins.iter().copied().max().unwrap_or(0).max(1) as f64;
    let width = (W - 50.0) / bins.len().max(1) as f64;
    let mut bars = String::new();
    for (i, n) in bins.iter().enumerate() {
        let h = *n as f64 / max * (H - 40.0);
        let _ = write!(
            bars,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="#36c"><title>{n}</title></rect>"##,
            40.0 + i as f64 * width,
            H - 25.0 - h,
            (width - 1.0).max(1.0)
        );
    }
    format!(
        r##"<figure><figcaption>{title}</figcaption><svg viewBox="0 0 {W} {H}" width="{W}" height="{H}">
<line x1="40" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/>{bars}
<text x="40" y="{lx}" font-size="11">0</text><text x="{r}" y="{lx}" font-size="11" text-anchor="end">{max_x:.2} {x_label}</text>
<text x="36" y="20" font-size="11" text-anchor="end">{max:.0}</text>
</svg></figure>"##,
        b = H - 25.0,
        r = W - 10.0,
        lx = H - 8.0,
    )
}

/// Block bitmaps of incomplete meters: a row a meter, a cell a block.
fn bitmaps(report: &CampaignReport) -> String {
    let mut out = String::new();
    for pass in &report.incomplete_after_pass {
        let _ = write!(
            out,
            "<h3>After pass {}: {} meters not upgraded</h3>",
            pass.pass, pass.count
        );
        if pass.meters.is_empty() {
            continue;
        }
        let rows: Vec<(&str, &str, Option<&str>)> = pass
            .meters
            .iter()
            .map(|m| (m.meter.as_str(), m.reason.as_str(), m.bitmap.as_deref()))
            .collect();
        out.push_str(&bitmap_svg(&rows));
        out.push_str("<table><tr><th>meter</th><th>why it is not done</th></tr>");
        for m in &pass.meters {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td></tr>",
                escape(&m.meter),
                escape(&m.reason)
            );
        }
        out.push_str("</table>");
    }
    out
}

/// Bit-strings as a picture: a row a meter (`(name, tooltip, bitmap)`), a cell a block, green
/// received and red missing.
fn bitmap_svg(rows: &[(&str, &str, Option<&str>)]) -> String {
    // A cell a block, a row a meter: 4 px wide, 10 px tall, names in 9 px text beside them.
    let (cell_w, row_h, label_w) = (4.0, 12.0, 140.0);
    let cols = rows
        .iter()
        .map(|(_, _, bits)| bits.map_or(0, str::len))
        .max()
        .unwrap_or(0) as f64;
    let height = rows.len() as f64 * row_h + 4.0;
    let mut svg = format!(
        r#"<svg width="{:.0}" height="{height:.0}">"#,
        label_w + cols * cell_w
    );
    for (row, (name, tooltip, bits)) in rows.iter().enumerate() {
        let y = 2.0 + row as f64 * row_h;
        let _ = write!(
            svg,
            r#"<text x="0" y="{:.1}" font-size="9"><title>{}</title>{}</text>"#,
            y + 9.0,
            escape(tooltip),
            escape(name)
        );
        for (col, bit) in bits.unwrap_or_default().chars().enumerate() {
            let colour = if bit == '1' { "#2a6" } else { "#d33" };
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{cell_w}" height="{:.1}" fill="{colour}"/>"#,
                label_w + col as f64 * cell_w,
                row_h - 2.0
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// What group delivery did: per route its transmissions and repairs, each unicast round, and
/// the bit-strings of the meters still incomplete after each cycle.
fn group(report: &CampaignReport) -> String {
    let mut out = String::new();
    for g in &report.group {
        let _ = write!(
            out,
            "<h2>Group delivery over {}</h2><p>{} meters ({} left to unicast), {} blocks of {} bytes: {} group transmissions in {} cycles ({} bytes), {} blocks repaired point-to-point ({} bytes).</p>",
            escape(&g.route),
            g.members,
            g.left_out.len(),
            g.blocks,
            g.block_size,
            g.transmissions,
            g.cycles,
            g.group_bytes,
            g.repaired(),
            g.repair_bytes
        );
        out.push_str("<table><tr><th>cycle</th><th>after transmissions</th><th>repaired point-to-point</th><th>meters complete</th></tr>");
        for r in &g.rounds {
            let _ = write!(
                out,
                "<tr><td>{}{}</td><td>{}</td><td>{}</td><td>{} ({:.1} %)</td></tr>",
                r.cycle,
                if r.end_of_cycle { " (end)" } else { "" },
                r.after_transmissions,
                r.repaired,
                r.complete,
                r.complete_percent
            );
        }
        out.push_str("</table>");
        for r in g
            .rounds
            .iter()
            .filter(|r| r.end_of_cycle && !r.incomplete.is_empty())
        {
            let _ = write!(
                out,
                "<h3>Still incomplete after cycle {} (first {})</h3>",
                r.cycle,
                r.incomplete.len()
            );
            let rows: Vec<(&str, String, Option<&str>)> = r
                .incomplete
                .iter()
                .map(|m| {
                    (
                        m.meter.as_str(),
                        format!("{} blocks missing", m.missing),
                        m.bitmap.as_deref(),
                    )
                })
                .collect();
            let rows: Vec<(&str, &str, Option<&str>)> =
                rows.iter().map(|(m, t, b)| (*m, t.as_str(), *b)).collect();
            out.push_str(&bitmap_svg(&rows));
        }
        if !g.left_out.is_empty() {
            out.push_str("<table><tr><th>left to unicast</th><th>why</th></tr>");
            for l in &g.left_out {
                let _ = write!(
                    out,
                    "<tr><td>{}</td><td>{}</td></tr>",
                    escape(&l.meter),
                    escape(&l.reason)
                );
            }
            out.push_str("</table>");
        }
    }
    out
}

/// The command history and the firmware download statistics, as the field's reports show them.
fn field_reports(report: &CampaignReport) -> String {
    let when = |t: Option<f64>| t.map_or("-".into(), crate::rfc3339::format);
    let mut out = String::from(
        "<h2>Command history</h2><table><tr><th>version</th><th>command</th><th>expected</th><th>total attempted</th><th>succeeded</th><th>failed</th><th>success %</th><th>unsuccessful %</th><th>command issued</th><th>latest response</th></tr>",
    );
    for r in &report.command_history {
        let command = r.command.name();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{command}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            escape(&r.version),
            r.expected,
            r.total_attempted,
            r.succeeded,
            r.failed,
            r.success_percent,
            r.unsuccessful_percent,
            when(r.command_issued),
            when(r.latest_response)
        );
    }
    out.push_str("</table><h2>Firmware download statistics</h2><table><tr><th>version</th><th>first packet</th><th>last packet</th><th>duration</th><th>packets sent</th><th>packets that should have been sent</th></tr>");
    for d in &report.downloads {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.1} s</td><td>{}</td><td>{}</td></tr>",
            escape(&d.version),
            when(d.first_packet),
            when(d.last_packet),
            d.duration_seconds,
            d.packets_sent,
            d.packets_needed
        );
    }
    out.push_str("</table>");
    out
}

/// A plan's verdict, and each step's waves.
fn plan(report: &CampaignReport) -> String {
    let Some(p) = &report.plan else {
        return String::new();
    };
    let verdict = p.halted.as_deref().unwrap_or("completed");
    let mut out = format!(
        "<h2>Plan</h2><p><b>{}</b></p><table><tr><th>step</th><th>image</th><th>selected</th><th>need it</th><th>on it already</th><th>unreachable</th><th>outside its cohorts</th><th>held by its gate</th><th>waves</th></tr>",
        escape(verdict)
    );
    for st in &p.steps {
        let waves: Vec<String> = st
            .waves
            .iter()
            .map(|w| {
                format!(
                    "{}: {} of {}",
                    w.name, w.summary.succeeded, w.summary.expected
                )
            })
            .collect();
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{} ({}, part {})</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&st.name),
            escape(&st.image),
            escape(&st.version),
            st.part,
            st.labelled,
            st.prescan.expected,
            st.prescan.on_target,
            st.prescan.unreachable,
            st.outside_cohorts.len(),
            st.gated.len(),
            escape(&waves.join("; "))
        );
    }
    out.push_str("</table>");
    out
}

/// The pre-scan: what was found before any block, and the meters left out.
fn prescan(report: &CampaignReport) -> String {
    let Some(p) = &report.prescan else {
        return String::new();
    };
    let mut out = format!(
        "<h2>Pre-scan</h2><p>{} meters scanned: {} expected, {} already on the target version, {} unreachable, {} not in a normal state.</p>",
        p.targets, p.expected, p.on_target, p.unreachable, p.not_normal
    );
    let apart: Vec<_> = p
        .meters
        .iter()
        .filter_map(|m| match &m.verdict {
            super::prescan::Verdict::Unreachable(why) => Some((m, "unreachable", why)),
            super::prescan::Verdict::NotNormal(why) => Some((m, "not normal", why)),
            _ => None,
        })
        .collect();
    if !apart.is_empty() {
        out.push_str("<table><tr><th>meter</th><th>left out</th><th>why</th></tr>");
        for (m, kind, why) in apart {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{kind}</td><td>{}</td></tr>",
                escape(&m.meter),
                escape(why)
            );
        }
        out.push_str("</table>");
    }
    out
}

/// The whole page.
pub fn render(report: &CampaignReport) -> String {
    let s = &report.summary;
    let start = report
        .meters
        .iter()
        .map(|m| m.report.started_at)
        .fold(f64::INFINITY, f64::min);
    let mut finished: Vec<f64> = report
        .meters
        .iter()
        .filter(|m| m.upgraded)
        .map(|m| m.report.started_at + m.report.duration.as_secs_f64() - start)
        .collect();
    finished.sort_by(f64::total_cmp);
    let upgraded_over_time: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
        .chain(
            finished
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, (i + 1) as f64)),
        )
        .collect();
    // Throughput: each meter's blocks spread evenly between its first and last block.
    let span = s.duration_seconds.max(0.001);
    let buckets = 60usize;
    let mut throughput = vec![0.0f64; buckets];
    for m in &report.meters {
        if let (Some(a), Some(b)) = (m.report.first_block_at(), m.report.last_block_at()) {
            let (a, b) = (a - start, (b - start).max(a - start + 1e-3));
            for (i, slot) in throughput.iter_mut().enumerate() {
                let (lo, hi) = (
                    i as f64 * span / buckets as f64,
                    (i + 1) as f64 * span / buckets as f64,
                );
                let overlap = (b.min(hi) - a.max(lo)).max(0.0);
                *slot += m.report.blocks_sent as f64 * overlap / (b - a);
            }
        }
    }
    let per_second = span / buckets as f64;
    let throughput: Vec<(f64, f64)> = throughput
        .iter()
        .enumerate()
        .map(|(i, n)| ((i as f64 + 0.5) * per_second, n / per_second))
        .collect();
    let durations: Vec<f64> = report
        .meters
        .iter()
        .filter(|m| m.upgraded)
        .map(|m| m.report.duration.as_secs_f64())
        .collect();
    let max_d = durations.iter().copied().fold(0.0, f64::max).max(1e-9);
    let mut hist = vec![0usize; 20];
    for d in &durations {
        hist[((d / max_d * 20.0) as usize).min(19)] += 1;
    }
    let mut rows = String::new();
    let doomed = report.scenario.as_ref().map(|f| f.doomed.to_string());
    for (k, v) in [
        ("expected", s.expected.to_string()),
        (
            "succeeded",
            format!("{} ({:.1} %)", s.succeeded, s.success_percent),
        ),
        (
            "failed",
            format!("{} ({:.1} %)", s.failed, s.unsuccessful_percent),
        ),
        ("duration", format!("{:.1} s", s.duration_seconds)),
        (
            "blocks sent / needed",
            format!("{} / {}", s.blocks_sent, s.blocks_needed),
        ),
        ("retries", s.retries.to_string()),
        (
            "passes",
            format!(
                "{} (succeeded after each: {})",
                s.passes,
                counts(&s.succeeded_after_pass)
            ),
        ),
    ]
    .into_iter()
    .chain(doomed.map(|d| ("doomed by the scenario", d)))
    {
        let _ = write!(rows, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    let mut failures = String::new();
    for m in report.meters.iter().filter(|m| !m.upgraded) {
        let _ = write!(
            failures,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&m.report.meter),
            match m.doomed {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            },
            escape(&m.report.outcome.to_string())
        );
    }
    let (title, about) = match &report.scenario {
        Some(f) => (
            format!("scenario {}, seed {}", f.name, f.seed),
            format!(
                "{} emulated meters, image {} ({} bytes).",
                f.meters, f.image_version, f.image_size_bytes
            ),
        ),
        None => (
            format!("{} meters", report.meters.len()),
            format!("{} meters.", report.meters.len()),
        ),
    };
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>meterfleet campaign: {title}</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto}}table{{border-collapse:collapse}}th,td{{border:1px solid #ccc;padding:.2rem .6rem;text-align:left}}figure{{margin:1rem 0}}figcaption{{font-weight:bold}}</style></head><body>
<h1>Firmware campaign: {title}</h1>
<p>{about}</p>
<table>{rows}</table>
{plan}
{prescan}
{field}
{group}
{c1}{c2}{c3}
<h2>Meters still incomplete after each pass</h2>
<p>Each row a meter, each cell a block: green received, red missing.</p>
{bitmaps}
<h2>Meters not upgraded</h2>
<table><tr><th>meter</th><th>doomed</th><th>outcome</th></tr>{failures}</table>
</body></html>
"#,
        title = escape(&title),
        about = escape(&about),
        c1 = line_chart(
            "Meters upgraded over time",
            "s",
            "meters",
            &upgraded_over_time
        ),
        c2 = line_chart("Block throughput", "s", "blocks/s", &throughput),
        c3 = bar_chart("Per-meter duration (upgraded meters)", "s", &hist, max_d),
        bitmaps = bitmaps(report),
        prescan = prescan(report),
        field = field_reports(report),
        group = group(report),
        plan = plan(report),
    )
}
