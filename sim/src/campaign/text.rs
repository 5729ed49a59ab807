//! The summary of a campaign as text: what `sim run` prints at the end and `sim merge`
//! prints for merged shards. One function for both, so a merged run reads exactly as
//! an unsharded one (only the time line differs).

use super::Summary;

/// The summary, one line per counter group, then the failures with their replay
/// commands.
pub fn summary_text(s: &Summary) -> String {
    let mut out = String::new();
    macro_rules! line {
        ($($t:tt)*) => {{
            out.push_str(&format!($($t)*));
            out.push('\n');
        }};
    }
    line!("seeds              {}", s.seeds);
    line!("operations         {}", s.operations);
    line!("crashes            {}", s.crashes);
    line!("recoveries checked {}", s.recoveries_checked);
    line!(
        "damage detected    {} (reported by the engine: file replaced); {} damaged files \
         accepted at an older state (undetectable: a misdirected or rotten control record reads like a torn one)",
        s.damage_detected, s.damage_older_state
    );
    line!(
        "delta damage       {} files accepted at the state before their delta's last \
         transaction (damaged before a later one could vouch for it)",
        s.delta_older_state
    );
    line!(
        "log damage         {} reported by the engine (the seed ends: the operator restores the \
         log); {} recoveries dropped the log's damaged last synced group (nothing later vouched for it)",
        s.log_damage_detected, s.log_older_state
    );
    line!(
        "log modes          {}",
        s.log_modes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    line!(
        "recoveries crashed {} (and redone)",
        s.interrupted_recoveries
    );
    line!(
        "operator requests through the admin path {}",
        s.admin_requests
    );
    line!(
        "recoveries under faults {} ({} failed with an explained status or a crash, then redone)",
        s.faulty_recoveries,
        s.failed_faulty_recoveries
    );
    line!("log segments recycled {}", s.segments_recycled);
    line!("bulk pages spilled    {}", s.pages_spilled);
    line!("group-committed Ends  {}", s.group_acks);
    line!(
        "backup cycles         {} started, {} copied and checked, {} ended (endbu or killed deltas)",
        s.backups_started, s.backups_copied, s.backups_ended
    );
    line!(
        "archival logging      {} backups copied and checked, {} rolled forward and checked \
         (invariant 7; {} crashed part-way and {} first run under faults, then run again; {} \
         skipped for damage); {} backups \
         older than their log refused (41), {} with no frame to show the gap",
        s.archival_backups,
        s.rollforwards_checked,
        s.rollforwards_crashed,
        s.rollforwards_under_faults,
        s.rollforwards_skipped_damaged,
        s.rollforward_gaps_refused,
        s.rollforward_gaps_unseen
    );
    line!(
        "inventory transfers   {} (totals changed by a crash, log mode Off only: {})",
        s.transfers,
        s.inventory_splits
    );
    line!(
        "transactions       {} ended, {} aborted; {} multi-file split by a crash (log mode Off)",
        s.transactions_ended,
        s.transactions_aborted,
        s.split_transactions
    );
    line!(
        "held cursors          {} moves checked, {} of them after the file changed since the \
         cursor last landed",
        s.cursor_moves,
        s.cursor_moves_across_changes
    );
    line!(
        "bulk loads            {} ({} records); {} judged record by record (relaxed: a \
         fault or a failed log write sent a batch Insert by Insert); {} cut short by a crash: \
         recovery found {} with none of it, {} with a prefix of whole batches, {} with all it \
         had inserted",
        s.bulk_loads,
        s.bulk_records,
        s.bulk_per_record,
        s.bulk_crashed,
        s.bulk_crash_none,
        s.bulk_crash_prefix,
        s.bulk_crash_all
    );
    line!(
        "fault statuses excused {} by a fault in the same step, {} by an earlier fault \
         since the engine started, {} by a lying fault's damage (any other: status without cause)",
        s.excused_direct,
        s.excused_sticky,
        s.excused_damaged
    );
    line!("faults injected:");
    for (k, v) in &s.faults {
        line!("  {k:<28} {v}");
    }
    line!("failures           {}", s.failures.len());
    line!(
        "time               {:.1} s ({:.1} seeds/s)",
        s.seconds,
        s.seeds_per_second
    );
    for f in &s.failures {
        line!(
            "FAIL seed {}: {}\n  replay: {}",
            f.seed,
            f.message,
            f.replay
        );
    }
    out
}
