//! A period's report as a document: Markdown for people (the monthly
//! report to the region), CSV for a spreadsheet (one `section,key,value`
//! row per figure, so every figure of the JSON is there).

use super::query::Report;
use std::fmt::Write;

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{:.1} %", v * 100.0))
}

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |v| format!("{v:.1} s"))
}

impl Report {
    /// The report as Markdown tables.
    pub fn to_markdown(&self) -> String {
        let t = &self.totals;
        let mut o = String::new();
        let _ = writeln!(o, "# siaga112 report {} to {}\n", self.from, self.to);
        let _ = writeln!(o, "## Calls\n\n| | |\n|---|---:|");
        let _ = writeln!(o, "| Offered | {} |", t.offered);
        let _ = writeln!(o, "| Answered | {} |", t.answered);
        let _ = writeln!(
            o,
            "| Abandoned or dropped | {} ({}) |",
            t.abandoned,
            pct(t.abandoned_share)
        );
        let _ = writeln!(o, "| Unclassified | {} |", t.unclassified);
        let _ = writeln!(
            o,
            "| Prank, silent or accidental | {} |",
            pct(t.false_share)
        );
        let _ = writeln!(o, "| Mean answer time | {} |", secs(t.mean_answer_s));
        let _ = writeln!(
            o,
            "| Answered within 10 s / 15 s / 20 s (NENA: 90 % / 95 %) | {} / {} / {} |",
            pct(t.within_10s),
            pct(t.within_15s),
            pct(t.within_20s)
        );
        let _ = writeln!(o, "\n## By class\n\n| Class | Calls |\n|---|---:|");
        for (c, n) in &t.by_class {
            let _ = writeln!(o, "| {c} | {n} |");
        }
        let _ = writeln!(
            o,
            "\n## Emergencies by category\n\n| Category | Calls |\n|---|---:|"
        );
        for (c, n) in &self.by_category {
            let _ = writeln!(o, "| {c} | {n} |");
        }
        let _ = writeln!(o, "\n## Answer times\n\n| Up to | Calls |\n|---|---:|");
        for b in &self.answer_times {
            let le = b.le_s.map_or_else(|| "longer".into(), |s| format!("{s} s"));
            let _ = writeln!(o, "| {le} | {} |", b.count);
        }
        let d = &self.dispatch;
        let _ = writeln!(
            o,
            "\n## Dispatch\n\n{} tickets; answer to dispatch within 60 s: {} (NFPA 1225: 90 %); mean {}\n",
            d.tickets,
            pct(d.within_60s),
            secs(d.mean_answer_to_dispatch_s)
        );
        let _ = writeln!(o, "| Agency | Tickets | Closed | Cancelled | Answer to dispatch (mean / p90) | Within 60 s | To acknowledge | To on scene |\n|---|---:|---:|---:|---:|---:|---:|---:|");
        for (a, x) in &d.by_agency {
            let _ = writeln!(
                o,
                "| {a} | {} | {} | {} | {} / {} | {} | {} | {} |",
                x.tickets,
                x.closed,
                x.cancelled,
                secs(x.mean_answer_to_dispatch_s),
                secs(x.p90_answer_to_dispatch_s),
                pct(x.within_60s),
                secs(x.mean_to_acknowledge_s),
                secs(x.mean_to_on_scene_s)
            );
        }
        let _ = writeln!(
            o,
            "\n## Days\n\n| Date | Offered | Answered | Abandoned |\n|---|---:|---:|---:|"
        );
        for day in &self.days {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                day.date, day.offered, day.answered, day.abandoned
            );
        }
        let mut hours: Vec<_> = self.hours.iter().filter(|h| h.offered > 0).collect();
        hours.sort_by(|a, b| b.offered.cmp(&a.offered).then(a.hour.cmp(&b.hour)));
        let _ = writeln!(o, "\n## Busiest hours\n\n| Hour | Calls |\n|---|---:|");
        for h in hours.iter().take(5) {
            let _ = writeln!(o, "| {:02}:00 | {} |", h.hour, h.offered);
        }
        o
    }

    /// The report as `section,key,value` rows.
    pub fn to_csv(&self) -> Result<Vec<u8>, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["section", "key", "value"])?;
        let opt = |x: Option<f64>| x.map(|v| format!("{v:.4}")).unwrap_or_default();
        let t = &self.totals;
        for (k, v) in [
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("offered", t.offered.to_string()),
            ("answered", t.answered.to_string()),
            ("abandoned", t.abandoned.to_string()),
            ("unclassified", t.unclassified.to_string()),
            ("within_10s", opt(t.within_10s)),
            ("within_15s", opt(t.within_15s)),
            ("within_20s", opt(t.within_20s)),
            ("mean_answer_s", opt(t.mean_answer_s)),
            ("abandoned_share", opt(t.abandoned_share)),
            ("false_share", opt(t.false_share)),
        ] {
            w.write_record(["totals", k, &v])?;
        }
        for (c, n) in &t.by_class {
            w.write_record(["class", c, &n.to_string()])?;
        }
        for (c, n) in &self.by_category {
            w.write_record(["category", c, &n.to_string()])?;
        }
        for b in &self.answer_times {
            let le = b.le_s.map_or_else(|| "longer".into(), |s| s.to_string());
            w.write_record(["answer_within_s", &le, &b.count.to_string()])?;
        }
        let d = &self.dispatch;
        w.write_record(["dispatch", "tickets", &d.tickets.to_string()])?;
        w.write_record(["dispatch", "within_60s", &opt(d.within_60s)])?;
        w.write_record([
            "dispatch",
            "mean_answer_to_dispatch_s",
            &opt(d.mean_answer_to_dispatch_s),
        ])?;
        for (a, x) in &d.by_agency {
            for (k, v) in [
                ("tickets", x.tickets.to_string()),
                ("closed", x.closed.to_string()),
                ("cancelled", x.cancelled.to_string()),
                (
                    "mean_answer_to_dispatch_s",
                    opt(x.mean_answer_to_dispatch_s),
                ),
                ("p90_answer_to_dispatch_s", opt(x.p90_answer_to_dispatch_s)),
                ("within_60s", opt(x.within_60s)),
                ("mean_to_acknowledge_s", opt(x.mean_to_acknowledge_s)),
                ("mean_to_on_scene_s", opt(x.mean_to_on_scene_s)),
            ] {
                w.write_record([&format!("agency:{a}"), k, &v])?;
            }
        }
        for day in &self.days {
            w.write_record([
                &format!("day:{}", day.date),
                "offered",
                &day.offered.to_string(),
            ])?;
            w.write_record([
                &format!("day:{}", day.date),
                "answered",
                &day.answered.to_string(),
            ])?;
            w.write_record([
                &format!("day:{}", day.date),
                "abandoned",
                &day.abandoned.to_string(),
            ])?;
            for (c, n) in &day.by_class {
                w.write_record([
                    &format!("day:{}", day.date),
                    &format!("class:{c}"),
                    &n.to_string(),
                ])?;
            }
        }
        for h in &self.hours {
            w.write_record(["hour", &format!("{:02}", h.hour), &h.offered.to_string()])?;
        }
        w.into_inner().map_err(|e| csv::Error::from(e.into_error()))
    }
}
