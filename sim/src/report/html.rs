//! The report page: one HTML file with its style inline and its charts as inline SVG,
//! no script, no font, no image and no link to fetch — it opens the same from a CI
//! artifact, a mail attachment or a machine without network.

use super::svg::{self, Bar, Series};
use super::{Campaign, Report};
use crate::campaign::result::NOT_FAULTS;
use crate::campaign::text::summary_text;
use crate::campaign::MutantResult;

/// Escape text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em auto;max-width:62em;color:#222;\
padding:0 1em}h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.2em .6em;\
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.fail{color:#c0392b;font-weight:bold}.ok{color:#1e7d32;font-weight:bold}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.85em}\
code.replay{display:block;background:#fff4e5;padding:.4em;margin:.3em 0;word-break:break-all}\
details{margin:.5em 0}.chart{display:block;margin:1em 0}";

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Keel simulation report</title>",
    );
    h.push_str(&format!(
        "<style>{STYLE}</style></head><body><h1>Keel simulation report</h1>"
    ));
    let failing: usize = r
        .campaigns
        .iter()
        .map(|c| c.result.summary.failures.len())
        .sum();
    h.push_str(&format!(
        "<p>{} campaign{}, {} seeds, <span class=\"{}\">{failing} failing</span>{}.</p>",
        r.campaigns.len(),
        if r.campaigns.len() == 1 { "" } else { "s" },
        r.campaigns
            .iter()
            .map(|c| c.result.summary.seeds)
            .sum::<u64>(),
        if failing == 0 { "ok" } else { "fail" },
        if r.mutants.is_empty() {
            String::new()
        } else {
            format!(
                "; {} of {} known-bad engines caught",
                r.mutants.iter().filter(|m| m.caught).count(),
                r.mutants.len()
            )
        }
    ));
    for (i, c) in r.campaigns.iter().enumerate() {
        campaign(&mut h, i, c);
    }
    if !r.mutants.is_empty() {
        mutants(&mut h, &r.mutants);
    }
    h.push_str("</body></html>\n");
    h
}

fn campaign(h: &mut String, i: usize, c: &Campaign) {
    let r = &c.result;
    let s = &r.summary;
    let set = r.seed_set;
    let engine = match &r.mutant {
        Some(m) => format!("known-bad engine <code>{}</code>", esc(m)),
        None => "the correct engine".into(),
    };
    let shard = if set.shard.1 > 1 {
        format!(", shard {}/{}", set.shard.0, set.shard.1)
    } else {
        String::new()
    };
    h.push_str(&format!(
        "<section id=\"campaign-{i}\"><h2>Campaign {}: seeds {}..{}{shard}, {engine}</h2>",
        i + 1,
        set.start,
        set.start.saturating_add(set.count),
    ));
    h.push_str(&format!(
        "<table><tr><th>engine commit</th><td><code>{}</code></td></tr>\
         <tr><th>workload generation</th><td>{}</td></tr>\
         <tr><th>steps per seed</th><td>{}</td></tr>\
         <tr><th>seeds run</th><td>{}{}</td></tr>\
         <tr><th>result files</th><td>{}</td></tr>\
         <tr><th>seeds/s</th><td>{:.1} ({:.1} s{})</td></tr>\
         <tr><th>failures</th><td class=\"{}\">{}</td></tr></table>",
        esc(&r.commit),
        r.workload,
        r.steps,
        s.seeds,
        if r.interrupted {
            " <span class=\"fail\">(interrupted)</span>"
        } else {
            ""
        },
        c.files,
        s.seeds_per_second,
        s.seconds,
        if c.files > 1 {
            ", summed over the shards: seeds/s per shard worker"
        } else {
            ""
        },
        if s.failures.is_empty() { "ok" } else { "fail" },
        s.failures.len()
    ));
    // Faults by kind, leaving out the I/O counts that are not faults.
    let faults: Vec<Bar> = s
        .faults
        .iter()
        .filter(|(k, _)| !NOT_FAULTS.contains(&k.as_str()))
        .map(|(k, v)| Bar {
            label: k.clone(),
            value: *v,
            alert: false,
        })
        .collect();
    h.push_str(&svg::hbars(
        &format!("faults-{i}"),
        "Faults injected, by kind",
        &faults,
        true,
    ));
    let seeds: Vec<u64> = r.per_seed.iter().map(|x| x.seed).collect();
    let crashes: Vec<u64> = r.per_seed.iter().map(|x| x.crashes).collect();
    let recoveries: Vec<u64> = r.per_seed.iter().map(|x| x.recoveries_checked).collect();
    let failed: Vec<bool> = r.per_seed.iter().map(|x| x.failed).collect();
    h.push_str(&svg::per_seed(
        &format!("per-seed-{i}"),
        "Crashes and recoveries checked, per seed",
        &Series {
            seeds: &seeds,
            bars: ("crashes", &crashes),
            line: ("recoveries checked", &recoveries),
            failed: &failed,
        },
    ));
    h.push_str(&format!(
        "<details><summary>The summary as <code>sim run</code> prints it</summary><pre>{}</pre></details>",
        esc(&summary_text(s))
    ));
    if !s.failures.is_empty() {
        h.push_str("<h3>Failures</h3>");
        for f in &s.failures {
            h.push_str(&format!(
                "<div class=\"failure\" id=\"fail-{i}-{}\"><p class=\"fail\">seed {}: {}</p>\
                 <code class=\"replay\">{}</code>",
                f.seed,
                f.seed,
                esc(&f.message),
                esc(&f.replay)
            ));
            if let Some(t) = c.traces.iter().find(|t| t.seed == f.seed) {
                h.push_str(&format!(
                    "<details open><summary>Shrunk to {} steps in {} runs: {}</summary>\
                     <p>Reproduce the shrunk trace:</p><code class=\"replay\">{}</code>\
                     <pre>{}</pre></details>",
                    t.steps_kept,
                    t.runs,
                    esc(&t.failure),
                    esc(&t.replay),
                    esc(&t.trace)
                ));
            }
            h.push_str("</div>");
        }
        let shown = c.traces.len();
        if shown < s.failures.len() {
            h.push_str(&format!(
                "<p>Shrunk traces shown for {shown} of {} failures (`sim report --traces N` \
                 shows more).</p>",
                s.failures.len()
            ));
        }
    }
    h.push_str("</section>");
}

fn mutants(h: &mut String, ms: &[MutantResult]) {
    h.push_str(
        "<section id=\"mutants\"><h2>Known-bad engines (mutants)</h2>\
         <p>Each mutant is a deliberate bug; the harness must catch it. Seeds to catch: \
         how many seeds ran until the first failure (or the whole budget, if none).</p>",
    );
    let bars: Vec<Bar> = ms
        .iter()
        .map(|m| Bar {
            label: m.mutant.clone(),
            value: m.seeds_needed,
            alert: !m.caught,
        })
        .collect();
    h.push_str(&svg::hbars(
        "mutants-chart",
        "Seeds to catch each mutant",
        &bars,
        true,
    ));
    h.push_str(
        "<table id=\"mutant-table\"><tr><th>mutant</th><th>caught</th>\
         <th>first failing seed</th><th>seeds to catch</th><th>failure</th></tr>",
    );
    for m in ms {
        h.push_str(&format!(
            "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            esc(&m.mutant),
            if m.caught { "ok" } else { "fail" },
            if m.caught { "yes" } else { "NO" },
            m.first_failing_seed
                .map(|s| s.to_string())
                .unwrap_or_else(|| "-".into()),
            m.seeds_needed,
            esc(m.message.as_deref().unwrap_or(""))
        ));
    }
    h.push_str("</table></section>");
}
